"""The in-process section: a lone Decide and a DecideBatch, whole and stage by stage.

Runs in the bench's own process on its prepared data (Redis reader, trained version,
the decision log on, as the product runs), one call at a time, so a regression shows in
the stage that caused it rather than only in the gRPC figures. Each figure is the
median over ``rounds`` rounds of the mean per call over ``calls`` calls: wall time
(``perf_counter``) and the CPU of the whole process (``process_time``, the log's
writer thread included, as it shares the GIL), after a warm-up and with the collector
tuned as the server tunes it (``server.gc_tuning``).

Stages of a lone decision, in the order the server runs them: ``request`` (proto ->
DecisionRequest), ``read`` (the guarded feature read of one customer), ``encode``
(raw features + turn -> model inputs), ``models`` (the three ONNX runs), ``policy``
(scores -> Decision), ``log_row`` (the decision-log part the request pays: references
to what the engine used; the rows are built on the log's writer thread, whose CPU the
in-flow figures report apart), ``response`` (Decision -> proto). ``decide`` is all of
them through the engine; ``batch100`` is DecideBatch of 100 turns per turn.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.inflow import measure_inflow
from bench.prepare import BenchData
from loadgen.workload import Workload, decide_request, load_known_ids
from server.engine.assemble import prepare
from server.engine.decide import DecisionEngine
from server.engine.factory import build_engine
from server.engine.records import DecisionColumns
from server.engine.served import encode, nba_matrix, score
from server.gc_tuning import tune_gc
from server.settings import Settings
from server.transport.convert import decision_request_from_proto
from server.transport.convert_decision import decision_to_proto

#: Memory swept between two decisions for the cold in-flow figures (more than L2).
COLD_SWEEP_MB = 8
STAGES = ("request", "read", "encode", "models", "policy", "log_row", "response")


def _timed(call: Callable[[int], object], calls: int, rounds: int) -> dict[str, float]:
    walls, cpus = [], []
    for _ in range(rounds):
        w0, c0 = time.perf_counter(), time.process_time()
        for i in range(calls):
            call(i)
        walls.append((time.perf_counter() - w0) / calls * 1e6)
        cpus.append((time.process_time() - c0) / calls * 1e6)
    return {
        "wall_us": round(statistics.median(walls), 1),
        "cpu_us": round(statistics.median(cpus), 1),
    }


def open_engine(data: BenchData, log_dir: Path) -> DecisionEngine:
    """The decide server's engine on the bench data, decision log on (parquet)."""
    settings = Settings(
        online_store="redis",
        redis=data.redis,
        feature_repo=data.repo,
        models_dir=data.models_dir,
        decision_log="file",
        decision_log_dir=log_dir,
    )
    return build_engine(settings)


def measure_inprocess(
    data: BenchData, log_dir: Path, calls: int = 1000, rounds: int = 5
) -> dict[str, Any]:
    """``{"stages": {name: {wall_us, cpu_us}}, "decide": ..., "batch100": ...}``."""
    known = tuple(load_known_ids(data.customers_parquet, "", 0))
    rng = random.Random(7)
    work = Workload(known_ids=known, unknown_share=0.1)
    msgs = [decide_request(rng, work, f"ip-{i}") for i in range(calls)]
    engine = open_engine(data, log_dir)
    limit = 256
    for msg in msgs[:200]:  # warm-up, then the collector tuned as the server tunes it
        engine.decide(decision_request_from_proto(msg, max_customer_id_length=limit))
    old = tune_gc(True)
    try:
        out = _measure(engine, msgs, calls, rounds)
        out["inflow"] = measure_inflow(engine, msgs * rounds, limit)
        out["inflow_cold"] = measure_inflow(engine, msgs * rounds, limit, sweep_mb=COLD_SWEEP_MB)
        return out
    finally:
        engine.close()
        gc.unfreeze()
        gc.set_threshold(*old)


def _measure(engine: DecisionEngine, msgs: list[Any], calls: int, rounds: int) -> dict[str, Any]:
    limit = 256
    reqs = [decision_request_from_proto(m, max_customer_id_length=limit) for m in msgs]
    served = engine.snapshot.arms[0]
    bundle, reader = served.bundle, engine.reader
    found = [reader.read([r.customer_id])[0] for r in reqs]
    now = datetime.now(UTC).timestamp()
    prepared = [[prepare(r, f, now)] for r, f in zip(reqs, found, strict=True)]
    inputs = [encode(bundle, p, True) for p in prepared]
    runner = bundle.runner

    def models(i: int) -> None:  # as the engine runs them: one run of the combined graph
        runner.run_all(
            np.ascontiguousarray(inputs[i][:, bundle.segment_columns]),
            inputs[i],
            nba_matrix(inputs[i]),
        )

    decided = [score(served, "", prepared[i], inputs[i]) for i in range(calls)]
    assemble = served.assembler.decision_and_choice
    ts = datetime.now(UTC)
    decisions = [d[0][0][0] for d in decided]

    def policy(i: int) -> None:
        row = decided[i][1][0].tolist()
        assemble(prepared[i][0], decisions[i].segment.id, 0.3, row, "")

    stages = {
        "request": lambda i: decision_request_from_proto(msgs[i], max_customer_id_length=limit),
        "read": lambda i: reader.read([reqs[i].customer_id]),
        "encode": lambda i: encode(bundle, prepared[i], True),
        "models": models,
        "policy": policy,
        "log_row": lambda i: DecisionColumns(
            prepared[i], decided[i][0], inputs[i], decided[i][1], ts
        ),
        "response": lambda i: decision_to_proto(decisions[i]),
    }
    out: dict[str, Any] = {"stages": {n: _timed(stages[n], calls, rounds) for n in STAGES}}

    def whole(i: int) -> None:
        req = decision_request_from_proto(msgs[i], max_customer_id_length=limit)
        decision_to_proto(engine.decide(req))

    out["decide"] = _timed(whole, calls, rounds)
    batches = [reqs[j : j + 100] for j in range(0, len(reqs) - 99, 100)] or [reqs[:100]]
    per_batch = _timed(
        lambda i: [decision_to_proto(d) for d in engine.decide_batch(batches[i % len(batches)])],
        max(1, calls // 100),
        rounds,
    )
    out["batch100_per_turn"] = {k: round(v / 100, 1) for k, v in per_batch.items()}
    out["stages_sum"] = {
        k: round(sum(s[k] for s in out["stages"].values()), 1) for k in ("wall_us", "cpu_us")
    }
    engine.record_log.flush(30)
    return out


def inprocess_markdown(section: dict[str, Any] | None) -> list[str]:
    """The in-process section of docs/performance.md ([] when it was not run)."""
    if not section:
        return []
    flow = section.get("inflow") or {"stages": {}, "whole": {}}
    cold = section.get("inflow_cold") or {"stages": {}, "whole": {}}
    rows = [
        (f"`{n}`", section["stages"][n], flow["stages"].get(n), cold["stages"].get(n))
        for n in STAGES
    ]
    rows += [
        (f"`{n}`", None, flow["stages"].get(n), cold["stages"].get(n))
        for n in ("log_submit", "engine glue")
    ]
    rows += [
        ("sum (in flow: the whole decision)", section["stages_sum"], flow["whole"], cold["whole"]),
        ("**`decide`** (proto in -> engine -> proto out)", section["decide"], None, None),
        ("**`batch100`**, per turn", section["batch100_per_turn"], None, None),
    ]
    lines = [
        "",
        "## In process, stage by stage",
        "",
        "One call at a time in the bench's own process, on the same data and version, "
        "decision log on (`bench/inprocess.py` says what each stage covers). *Alone*: each "
        "stage in a loop of its own; CPU is the whole process's, the log's writer thread "
        "included. *In flow*: the same stages timed inside whole decisions "
        "(`bench/inflow.py`), CPU of the calling thread; the log's writer thread used "
        f"{flow.get('writer_cpu_us', 'n/a')} µs of CPU per decision besides. *Cold*: in "
        f"flow with {COLD_SWEEP_MB} MB of memory swept between two decisions, as a client "
        "and gRPC's own threads do to a server's caches between two calls.",
        "",
        "| stage | alone wall µs | alone CPU µs | in flow wall µs | in flow CPU µs "
        "| cold wall µs | cold CPU µs |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {n} | {_pair(a)} | {_pair(f)} | {_pair(c)} |" for n, a, f, c in rows]
    return lines


def _pair(v: dict[str, float] | None) -> str:
    return "- | -" if not v else f"{v['wall_us']:,.1f} | {v['cpu_us']:,.1f}"
