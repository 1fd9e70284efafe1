"""Run a load test across client processes and merge what they measured.

Every process builds its own request pool and channel, reports ready, then waits for a
common start instant so their schedules line up. Each returns its histograms in wire
form; the parent merges them (exactly: HDR histograms add) into one result.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from dataclasses import dataclass, field
from typing import Any

from loadgen.channels import Security
from loadgen.closed_loop import ClosedLoopSpec, run_closed
from loadgen.open_loop import OpenLoopSpec, run_aio, run_thread
from loadgen.profile import Profile
from loadgen.responses import summarize as summarize_responses
from loadgen.series import merge_series, summarize_series
from loadgen.stats import LatencyStats, merge_all
from loadgen.workload import Pool, Workload, build_pool

START_MARGIN_S = 0.2


@dataclass(frozen=True)
class LoadConfig:
    """A whole load test (all processes). ``target`` alone, or ``targets``: calls go
    round-robin over them, one channel per target in every process."""

    target: str
    workload: Workload = field(default_factory=Workload)
    mode: str = "open"  # or "closed"
    rate: float = 100.0  # open loop, all processes together
    arrival: str = "poisson"
    sender: str = "thread"  # open loop: thread | aio
    concurrency: int = 8  # closed loop, all processes together
    duration_s: float = 10.0
    warmup_s: float = 2.0
    processes: int = 1
    timeout_s: float = 5.0
    max_outstanding: int = 5000
    max_requests: int = 0  # closed loop, per process; 0 = time only
    targets: tuple[str, ...] = ()  # several targets; empty: (target,)
    security: Security = field(default_factory=Security)
    profile: Profile | None = None  # open loop: rate over time; None: constant ``rate``
    interval_s: float = 1.0  # width of the time series' intervals
    details_max: int = 0  # calls kept one by one per process (ghz details; CLI: DETAILS_MAX)

    @property
    def all_targets(self) -> tuple[str, ...]:
        return self.targets or (self.target,)

    @property
    def peak_rate(self) -> float:
        return self.profile.peak() if self.profile is not None else self.rate


def _spec(cfg: LoadConfig, worker: int) -> OpenLoopSpec | ClosedLoopSpec:
    n = cfg.processes
    if cfg.mode == "closed":
        share = cfg.concurrency // n + (1 if worker < cfg.concurrency % n else 0)
        return ClosedLoopSpec(
            cfg.all_targets,
            cfg.workload.method,
            share,
            cfg.duration_s,
            cfg.warmup_s,
            cfg.timeout_s,
            cfg.max_requests,
            cfg.security,
            cfg.interval_s,
            cfg.details_max,
        )
    return OpenLoopSpec(
        cfg.all_targets,
        cfg.workload.method,
        cfg.peak_rate / n,
        cfg.duration_s,
        cfg.warmup_s,
        cfg.arrival,
        phase_s=worker / cfg.peak_rate,
        timeout_s=cfg.timeout_s,
        max_outstanding=max(1, cfg.max_outstanding // n),
        seed=cfg.workload.seed * 131 + worker,
        profile=cfg.profile.scaled(1.0 / n) if cfg.profile is not None else None,
        security=cfg.security,
        interval_s=cfg.interval_s,
        details_max=cfg.details_max,
    )


def run_worker(
    cfg: LoadConfig, worker: int, start_at: float, pool: Pool | None = None
) -> dict[str, Any]:
    """One process's run, returning wire-form stats and the CPU time it used."""
    pool = pool or build_pool(cfg.workload, worker)
    spec = _spec(cfg, worker)
    cpu = time.process_time()
    out: dict[str, Any]
    if isinstance(spec, ClosedLoopSpec):
        out = run_closed(spec, pool, start_at) if spec.concurrency else {"sent": 0}
    else:
        out = (run_aio if cfg.sender == "aio" else run_thread)(spec, pool, start_at)
    out["cpu_s"] = time.process_time() - cpu
    return out


def _child(cfg: LoadConfig, worker: int, ready: Any, go: Any, start: Any, out: Any) -> None:
    try:
        pool = build_pool(cfg.workload, worker)
        ready.put(worker)
        go.wait(60)
        out.put((worker, run_worker(cfg, worker, start.value, pool)))
    except BaseException as exc:  # reported to the parent, which raises
        out.put((worker, {"error": f"{type(exc).__name__}: {exc}"}))


def run_load(cfg: LoadConfig) -> dict[str, Any]:
    """Run ``cfg`` and return the merged result (see :func:`merge_results`)."""
    return merge_results(cfg, run_parts(cfg))


def run_parts(cfg: LoadConfig) -> list[dict[str, Any]]:
    """Run ``cfg``; return each process's outcome unmerged (several runs of one
    configuration merge exactly: pass all their parts to :func:`merge_results`)."""
    if cfg.processes <= 1:
        pool = build_pool(cfg.workload, 0)
        return [run_worker(cfg, 0, time.time() + START_MARGIN_S, pool)]
    return _run_processes(cfg)


def _run_processes(cfg: LoadConfig) -> list[dict[str, Any]]:
    ctx = multiprocessing.get_context("spawn")  # gRPC does not survive fork
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    start = ctx.Value("d", 0.0)
    procs = [
        ctx.Process(target=_child, args=(cfg, w, ready, go, start, out), daemon=True)
        for w in range(cfg.processes)
    ]
    try:
        for proc in procs:
            proc.start()
        for _ in procs:
            ready.get(timeout=120)
        start.value = time.time() + START_MARGIN_S
        go.set()
        limit = START_MARGIN_S + cfg.warmup_s + cfg.duration_s + cfg.timeout_s + 30.0
        parts = [out.get(timeout=limit)[1] for _ in procs]
    except queue.Empty as exc:
        raise RuntimeError("a load-generator process did not finish in time") from exc
    finally:
        _stop(procs)
    errors = [p["error"] for p in parts if "error" in p]
    if errors:
        raise RuntimeError(f"load-generator process failed: {errors[0]}")
    return parts


def _stop(procs: list[Any]) -> None:
    for proc in procs:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=5)


def target_stats(cfg: LoadConfig, parts: list[dict[str, Any]]) -> list[LatencyStats]:
    """Every target's calls, merged over the processes (in ``cfg.all_targets`` order)."""
    return [
        merge_all([LatencyStats.from_wire(p["targets"][k]) for p in parts if "targets" in p])
        for k in range(len(cfg.all_targets))
    ]


def merge_results(cfg: LoadConfig, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge per-process outcomes into the result dict printed by :mod:`report`."""
    targets = cfg.all_targets
    per_target = target_stats(cfg, parts)
    stats = merge_all(per_target)
    sent = sum(int(p.get("sent", 0)) for p in parts)
    issued = sum(int(p.get("issued", 0)) for p in parts)
    cpu_s = sum(float(p.get("cpu_s", 0.0)) for p in parts)
    samples = [raw for p in parts for raw in p.get("samples", [])]
    work = cfg.workload
    batch = work.batch_size if work.rpc != "decide" else 1
    result: dict[str, Any] = {
        "target": ", ".join(targets),
        "targets": {t: s.summary() for t, s in zip(targets, per_target, strict=True)},
        "tls": cfg.security.uses_tls,
        "mtls": cfg.security.cert is not None,
        "api_key": cfg.security.api_key is not None,
        "rpc": work.rpc,
        "mode": cfg.mode,
        "processes": cfg.processes,
        "duration_s": cfg.duration_s,
        "warmup_s": cfg.warmup_s,
        "batch_size": batch,
        "sent": sent,
        **stats.summary(),
        "rps": round(stats.ok / cfg.duration_s, 1) if cfg.duration_s else 0.0,
        "items_per_s": round(stats.ok * batch / cfg.duration_s, 1) if cfg.duration_s else 0.0,
        "client_cpu_us_per_call": round(cpu_s / issued * 1e6, 1) if issued else None,
        **summarize_responses(work.rpc, samples),
        "interval_s": cfg.interval_s,
        "intervals": summarize_series(merge_series(parts), cfg.interval_s, cfg.duration_s),
        "details": sorted(d for p in parts for d in p.get("details", [])),
        "error_messages": dict(stats.messages.most_common()) if stats.total > stats.ok else {},
        "mean_all_us": round(stats.mean_all(), 1),
        "method": work.method,
        "timeout_s": cfg.timeout_s,
        "started_at": min(
            (float(p["started_at"]) for p in parts if "started_at" in p), default=0.0
        ),
        "min_us": stats.min_us,
    }
    if cfg.mode == "open":
        lag = merge_all([LatencyStats.from_wire(p["lag"]) for p in parts if "lag" in p])
        result.update(
            rate=cfg.peak_rate,
            profile=cfg.profile.text if cfg.profile is not None else f"const:{cfg.rate:g}",
            arrival=cfg.arrival,
            sender=cfg.sender,
            offered_rps=round(sent / cfg.duration_s, 1),
            send_lag_p50_us=lag.percentile(50),
            send_lag_p99_us=lag.percentile(99),
        )
    else:
        result.update(concurrency=cfg.concurrency, max_requests=cfg.max_requests)
    return result
