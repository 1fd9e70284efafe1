"""The stages of a lone decision timed *in flow*: inside whole decisions, not alone.

``bench.inprocess`` times each stage in a loop of its own. A stage run that way keeps
its code, its data (the trees of the models, ~1 MB) and the branch predictors warm,
so the sum of the stages comes out far below the whole decision. Here the engine's
own calls are wrapped with timers while whole decisions run one after another, so
each stage pays what it pays in the server: caches shared with every other stage.
The difference between the columns is the price of running them together, and
``engine glue`` is what no stage covers (the batcher, the matrix slicing, the timers).

CPU is the calling thread's (``thread_time``); the decision log's writer thread is
reported apart from /proc, per decision. With ``sweep_mb``, that much memory is read
and written between two decisions (untimed), as the client, gRPC's threads and other
processes do to a server's caches between two calls: the *cold* figures.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

import server.engine.decide as decide_module
from server.engine.decide import DecisionEngine
from server.transport.convert import decision_request_from_proto
from server.transport.convert_decision import decision_to_proto

Totals = defaultdict[str, list[float]]


def _timed(name: str, call: Callable[..., Any], totals: Totals) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        w0, c0 = time.perf_counter(), time.thread_time()
        try:
            return call(*args, **kwargs)
        finally:
            slot = totals[name]
            slot[0] += time.perf_counter() - w0
            slot[1] += time.thread_time() - c0

    return wrapper


@contextmanager
def _instrumented(engine: DecisionEngine, totals: Totals) -> Iterator[None]:
    """The engine's stage calls wrapped with timers; restored on exit."""
    served = engine.snapshot.arms[0]
    runner, assembler, log = served.bundle.runner, served.assembler, engine.record_log
    module_names = {"read": "read_prepared", "encode": "encode", "log_row": "DecisionColumns"}
    saved_module = {n: getattr(decide_module, n) for n in module_names.values()}
    try:
        for stage, name in module_names.items():
            setattr(decide_module, name, _timed(stage, saved_module[name], totals))
        runner.run_all = _timed("models", runner.run_all, totals)  # type: ignore[method-assign]
        assembler.decision_and_choice = _timed(  # type: ignore[method-assign]
            "policy", assembler.decision_and_choice, totals
        )
        log.submit = _timed("log_submit", log.submit, totals)  # type: ignore[method-assign]
        yield
    finally:
        for name, original in saved_module.items():
            setattr(decide_module, name, original)
        for obj, attr in ((runner, "run_all"), (assembler, "decision_and_choice"), (log, "submit")):
            obj.__dict__.pop(attr, None)  # the instance attribute shadowed the method


def _thread_cpu_s(name: str) -> float:
    """CPU seconds of this process's threads called ``name`` (0 if none)."""
    ids = {t.native_id for t in threading.enumerate() if t.name == name}
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for tid in ids:
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def measure_inflow(
    engine: DecisionEngine, msgs: list[Any], limit: int, sweep_mb: int = 0
) -> dict[str, Any]:
    """``{"stages": {name: {wall_us, cpu_us}}, "whole": ..., "writer_cpu_us": x}``, per
    decision over lone decisions of ``msgs`` (proto requests), each stage in flow."""
    totals: Totals = defaultdict(lambda: [0.0, 0.0])
    request = _timed("request", decision_request_from_proto, totals)
    response = _timed("response", decision_to_proto, totals)
    sweep = np.ones(sweep_mb * 1024 * 1024 // 8) if sweep_mb else None
    wall = cpu = 0.0
    with _instrumented(engine, totals):
        engine.record_log.flush(30)
        writer0 = _thread_cpu_s("record-log-writer")
        for msg in msgs:
            if sweep is not None:
                sweep[::8] += 1.0  # one write per cache line, then reads of them all
                sweep.sum()
            w0, c0 = time.perf_counter(), time.thread_time()
            response(engine.decide(request(msg, max_customer_id_length=limit)))
            wall, cpu = wall + time.perf_counter() - w0, cpu + time.thread_time() - c0
        engine.record_log.flush(30)
        writer = _thread_cpu_s("record-log-writer") - writer0
    n = len(msgs)

    def per_call(seconds: float) -> float:
        return round(seconds / n * 1e6, 1)

    stages = {k: {"wall_us": per_call(v[0]), "cpu_us": per_call(v[1])} for k, v in totals.items()}
    stages["engine glue"] = {
        "wall_us": round(per_call(wall) - sum(s["wall_us"] for s in stages.values()), 1),
        "cpu_us": round(per_call(cpu) - sum(s["cpu_us"] for s in stages.values()), 1),
    }
    return {
        "stages": stages,
        "whole": {"wall_us": per_call(wall), "cpu_us": per_call(cpu)},
        "writer_cpu_us": per_call(writer),
    }
