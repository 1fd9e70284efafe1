"""Closed-loop load: N callers, each sending its next request when the last one returned.

This is how a fixed pool of bot-backend workers behaves. Throughput follows from
latency (rps ~ N / latency), so closed loop compares servers at equal concurrency;
it cannot show queueing under a given arrival rate (use open loop for that).
Calls that *start* during warm-up are not recorded.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import grpc

from loadgen.open_loop import aio_call, aio_outcome
from loadgen.responses import ResponseSampler
from loadgen.stats import LatencyStats


@dataclass(frozen=True)
class ClosedLoopSpec:
    """One client process's share of a closed-loop run."""

    target: str
    method: str
    concurrency: int  # callers in this process
    duration_s: float
    warmup_s: float = 1.0
    timeout_s: float = 5.0
    max_requests: int = 0  # per process; 0 = bounded by time only


def run_closed(spec: ClosedLoopSpec, pool: list[bytes], start_at: float) -> dict[str, Any]:
    """Run ``spec``; ``start_at`` is a ``time.time()`` instant shared by all processes."""
    return asyncio.run(_run(spec, pool, start_at))


async def _run(spec: ClosedLoopSpec, pool: list[bytes], start_at: float) -> dict[str, Any]:
    async with aio_call(spec.target, spec.method) as call:
        delay = start_at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        t0 = time.perf_counter()
        state = _State(t0 + spec.warmup_s, t0 + spec.warmup_s + spec.duration_s, spec.max_requests)
        callers = [_caller(call, pool, k, spec, state) for k in range(spec.concurrency)]
        await asyncio.gather(*callers)
        wire = {"stats": state.stats.to_wire(), "samples": state.responses.samples}
        return {**wire, "sent": state.sent, "issued": state.issued}


class _State:
    """Shared by the callers of one process (one event loop: no locking needed)."""

    def __init__(self, measure_from: float, end: float, max_requests: int) -> None:
        self.measure_from, self.end = measure_from, end
        self.max_requests = max_requests
        self.stats = LatencyStats()
        self.responses = ResponseSampler()
        self.sent = 0  # measured calls
        self.issued = 0  # all calls, warm-up included

    def may_send(self, now: float) -> bool:
        if now >= self.end:
            return False
        return not self.max_requests or self.issued < self.max_requests


async def _caller(
    call: Any, pool: list[bytes], k: int, spec: ClosedLoopSpec, state: _State
) -> None:
    i = k * 7919  # callers walk the pool from different places
    while state.may_send(time.perf_counter()):
        payload = pool[i % len(pool)]
        i += 1
        state.issued += 1
        start = time.perf_counter()
        code, response = await aio_outcome(call, payload, spec.timeout_s)
        if start < state.measure_from:
            continue
        state.sent += 1
        if code is grpc.StatusCode.OK:
            state.stats.record((time.perf_counter() - start) * 1e6)
            state.responses.offer(response)
        else:
            state.stats.record_error(code.name)
