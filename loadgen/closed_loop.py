"""Closed-loop load: N callers, each sending its next request when the last one returned.

This is how a fixed pool of bot-backend workers behaves. Throughput follows from
latency (rps ~ N / latency), so closed loop compares servers at equal concurrency;
it cannot show queueing under a given arrival rate (use open loop for that).
Calls that *start* during warm-up are not recorded.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from loadgen.channels import Security
from loadgen.open_loop import aio_calls, aio_outcome
from loadgen.recorder import DETAILS_MAX, Recorder
from loadgen.workload import Pool


@dataclass(frozen=True)
class ClosedLoopSpec:
    """One client process's share of a closed-loop run."""

    targets: tuple[str, ...]
    method: str
    concurrency: int  # callers in this process
    duration_s: float
    warmup_s: float = 1.0
    timeout_s: float = 5.0
    max_requests: int = 0  # per process; 0 = bounded by time only
    security: Security = field(default_factory=Security)
    interval_s: float = 1.0
    details_max: int = DETAILS_MAX


def run_closed(spec: ClosedLoopSpec, pool: Pool, start_at: float) -> dict[str, Any]:
    """Run ``spec``; ``start_at`` is a ``time.time()`` instant shared by all processes."""
    return asyncio.run(_run(spec, pool, start_at))


async def _run(spec: ClosedLoopSpec, pool: Pool, start_at: float) -> dict[str, Any]:
    async with aio_calls(spec.targets, spec.method, spec.security) as calls:
        delay = start_at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        t0 = time.perf_counter()
        rec = Recorder(len(calls), t0 + spec.warmup_s, spec.interval_s, spec.details_max)
        limits = _Limits(t0 + spec.warmup_s + spec.duration_s, spec.max_requests)
        callers = [_caller(calls, pool, k, spec, rec, limits) for k in range(spec.concurrency)]
        await asyncio.gather(*callers)
        return rec.result()


@dataclass
class _Limits:
    """When the callers of one process stop (one event loop: no locking needed)."""

    end: float
    max_requests: int
    issued: int = 0

    def may_send(self, now: float) -> bool:
        if now >= self.end:
            return False
        return not self.max_requests or self.issued < self.max_requests


async def _caller(
    calls: list[Any], pool: Pool, k: int, spec: ClosedLoopSpec, rec: Recorder, lim: _Limits
) -> None:
    # Callers walk the pool (and the targets) from different places; a pool of
    # conversations from its start, where every one of them begins (ids are per caller).
    i = 0 if pool.conversation_ids is not None else k * 7919
    metadata = spec.security.metadata
    while lim.may_send(time.perf_counter()):
        target = i % len(calls)
        payload = pool.payload(i, k)
        i += 1
        lim.issued += 1
        start = time.perf_counter()
        rec.sent_one(0.0, rec.measured(start))
        code, response, message = await aio_outcome(
            calls[target], payload, spec.timeout_s, metadata
        )
        rec.finished(target, start, code, response, message)
