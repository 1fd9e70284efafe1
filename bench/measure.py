"""Run every bench entry, one server at a time, with the same load generator.

The servers are started ahead (start-up is slow; an idle server costs nothing). Then,
server after server: its closed-loop entries; for ``echo`` and ``decide`` also one
open-loop run at a fixed rate and the search for the highest rate with p99 within the
limit; then the server is stopped, so only the measured one is left running.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench import profile
from bench.prepare import BenchData
from bench.procs import ProcessGroup, say
from bench.scenarios import ENTRIES, SERVERS, Entry, Running, launch_server
from bench.search import SearchSpec, find_max_rate
from loadgen.report import table
from loadgen.runner import LoadConfig, merge_results, run_load, run_parts
from loadgen.workload import Workload, load_known_ids

OPEN_LOOP_SERVERS = ("echo", "transport", "decide")


@dataclass(frozen=True)
class MeasureConfig:
    """How long and how hard to load each entry."""

    duration_s: float = 10.0
    warmup_s: float = 2.0
    concurrency: int = 8
    processes: int = 1
    open_rate: float = 300.0
    search: SearchSpec = field(default_factory=SearchSpec)
    search_duration_s: float = 4.0
    search_processes: int = 1
    unknown_share: float = 0.1
    seed: int = 7
    rounds: int = 1  # closed-loop entries are interleaved over this many rounds
    search_min_calls: int = 500  # a search step runs long enough for this many calls
    profile_s: float = 0.0  # > 0: py-spy the decide server for this long (unmeasured run)
    profile_dir: Path | None = None
    #: Closed-loop entries to run (``scenarios.ENTRIES`` names); empty: all of them.
    entries: tuple[str, ...] = ()
    open_loop: bool = True  # the fixed-rate run and the max-rate search


def selected(cfg: MeasureConfig) -> tuple[Entry, ...]:
    """The entries ``cfg`` runs, in the bench's order."""
    return tuple(e for e in ENTRIES if not cfg.entries or e.name in cfg.entries)


def servers_of(cfg: MeasureConfig) -> tuple[str, ...]:
    """The servers those entries need, in ``scenarios.SERVERS`` order."""
    needed = {e.server for e in selected(cfg)}
    return tuple(name for name in SERVERS if name in needed)


def _workload(cfg: MeasureConfig, known: tuple[str, ...], entry: Entry) -> Workload:
    return Workload(
        rpc=entry.rpc,
        known_ids=known,
        unknown_share=cfg.unknown_share,
        batch_size=entry.batch_size,
        seed=cfg.seed,
        conversations=entry.conversations,
        conversation_turns=entry.conversation_turns,
    )


def closed_config(
    cfg: MeasureConfig, target: str, known: tuple[str, ...], entry: Entry, duration_s: float
) -> LoadConfig:
    """The closed-loop load of one entry."""
    return LoadConfig(
        target=target,
        workload=_workload(cfg, known, entry),
        mode="closed",
        concurrency=entry.concurrency or cfg.concurrency,
        duration_s=duration_s,
        warmup_s=cfg.warmup_s,
        processes=entry.processes or cfg.processes,
    )


def closed_entries(
    cfg: MeasureConfig, running: dict[str, Running], known: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """All closed-loop entries, in ``cfg.rounds`` interleaved rounds merged per entry.

    Spreading each entry over rounds spreads outside noise (other processes on the
    machine) over all entries instead of letting one burst hit one entry.
    """
    share = cfg.duration_s / cfg.rounds
    entries = selected(cfg)
    parts: dict[str, list[dict[str, Any]]] = {e.name: [] for e in entries}
    loads: dict[str, list[float]] = {e.name: [] for e in entries}
    server_cpu: dict[str, list[float | None]] = {e.name: [] for e in entries}
    for n in range(cfg.rounds):
        for entry in entries:
            say(
                f"{entry.name}: closed loop, {cfg.concurrency} callers, {share:g} s "
                f"(round {n + 1}/{cfg.rounds})"
            )
            server = running[entry.server]
            before = server.child.cpu_s()
            parts[entry.name] += run_parts(closed_config(cfg, server.target, known, entry, share))
            after = server.child.cpu_s()
            used = after - before if before is not None and after is not None else None
            server_cpu[entry.name].append(used)
            loads[entry.name].append(os.getloadavg()[0])
    out = {}
    for entry in entries:
        total = closed_config(cfg, "", known, entry, cfg.duration_s)
        out[entry.name] = merge_results(total, parts[entry.name])
        out[entry.name]["target"] = running[entry.server].target
        out[entry.name]["loadavg_1m"] = round(sum(loads[entry.name]) / cfg.rounds, 2)
        out[entry.name]["server_cpu_us_per_call"] = _per_call(
            server_cpu[entry.name], parts[entry.name]
        )
    return out


def _per_call(cpu_s: list[float | None], parts: list[dict[str, Any]]) -> float | None:
    """Server CPU per call over the runs (warm-up included, as the calls counted)."""
    issued = sum(int(p.get("issued", 0)) for p in parts)
    if not issued or any(c is None for c in cpu_s):
        return None
    return round(sum(c for c in cpu_s if c is not None) / issued * 1e6, 1)


def _with_load_average(result: dict[str, Any]) -> dict[str, Any]:
    """Record the machine's 1-minute load average right after a run (noise indicator)."""
    result["loadavg_1m"] = round(os.getloadavg()[0], 2)
    return result


def open_run(
    cfg: MeasureConfig,
    target: str,
    known: tuple[str, ...],
    rate: float,
    duration_s: float,
    processes: int,
) -> dict[str, Any]:
    """One open-loop Decide run at ``rate`` (Poisson arrivals)."""
    work = _workload(cfg, known, Entry("open", "", "decide"))
    load = LoadConfig(
        target=target,
        workload=work,
        mode="open",
        rate=rate,
        arrival="poisson",
        duration_s=duration_s,
        warmup_s=min(cfg.warmup_s, 1.0),
        processes=processes,
    )
    return _with_load_average(run_load(load))


def open_loop_and_search(
    server: Running, known: tuple[str, ...], cfg: MeasureConfig, out: dict[str, Any]
) -> None:
    """The fixed-rate open-loop run and the max-rate search against ``server``."""
    name, target = server.name, server.target
    say(f"{name}: open loop at {cfg.open_rate:g} rps")
    out["open_loop"][name] = open_run(
        cfg, target, known, cfg.open_rate, cfg.duration_s, cfg.search_processes
    )
    say(f"{name}: searching the highest rate with p99 <= {cfg.search.p99_limit_us} µs")
    found = find_max_rate(
        lambda rate: open_run(
            cfg, target, known, rate, search_duration(cfg, rate), cfg.search_processes
        ),
        cfg.search,
    )
    out["max_rate"][name] = found.to_dict()


def search_duration(cfg: MeasureConfig, rate: float) -> float:
    """Long enough for ``search_min_calls`` calls (a p99 of fewer is mostly the max),
    but at most three times the configured step duration."""
    wanted = max(cfg.search_duration_s, cfg.search_min_calls / rate)
    return min(wanted, 3 * cfg.search_duration_s)


class ServerLauncher:
    """Starts bench servers without waiting for them (start-up is slow)."""

    def __init__(self, group: ProcessGroup, decide_env: dict[str, str] | None = None) -> None:
        self.group = group
        self.decide_env = decide_env or {}
        self.running: dict[str, Running] = {}

    def launch(self, names: tuple[str, ...], data: BenchData | None) -> None:
        """Start ``names``; only ``scenarios.DATALESS`` may start before the data is prepared."""
        say(f"starting {', '.join(names)}")
        for name in names:
            self.running[name] = launch_server(self.group, name, data, self.decide_env)


def measure_all(
    group: ProcessGroup, data: BenchData, cfg: MeasureConfig, running: dict[str, Running]
) -> dict[str, Any]:
    """Every entry; returns ``{"entries", "open_loop", "max_rate"[, "profile"]}``.

    ``running`` were started by a :class:`ServerLauncher` (start-up is slow; an idle
    server costs nothing). Only one server is loaded at a time; each is stopped after
    its last measurement.
    """
    known = tuple(load_known_ids(data.customers_parquet, "", 0))
    servers = servers_of(cfg)
    for name in servers:
        running[name].wait_ready(known)
    say("all servers answer")
    out: dict[str, Any] = {"entries": closed_entries(cfg, running, known)}
    out["open_loop"], out["max_rate"] = {}, {}
    say("\n" + table([{"name": k, **v} for k, v in out["entries"].items()]))
    for name in servers:
        if name == "decide" and cfg.profile_s > 0:
            out["profile"] = profile_server(
                running[name].child.pid, cfg, running[name].target, known
            )
        if cfg.open_loop and name in OPEN_LOOP_SERVERS:
            open_loop_and_search(running[name], known, cfg, out)
        group.stop(running[name].child)
    return out


def profile_server(
    pid: int, cfg: MeasureConfig, target: str, known: tuple[str, ...]
) -> dict[str, Any] | None:
    """py-spy ``pid`` during an extra closed-loop Decide run; None without py-spy."""
    if not profile.available():
        say("py-spy not found (pip install py-spy): no profile")
        return None
    say(f"profiling decide with py-spy for {cfg.profile_s:g} s (not measured)")
    dest = (cfg.profile_dir or Path(".")) / "decide.pyspy.txt"
    proc = profile.start_record(pid, cfg.profile_s, dest)
    time.sleep(0.5)  # let py-spy attach
    entry = Entry("profile", "decide", "decide")
    run_load(replace(closed_config(cfg, target, known, entry, cfg.profile_s), warmup_s=0.0))
    return profile.finish(proc, dest, cfg.profile_s)
