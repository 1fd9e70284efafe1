"""Open-loop load: requests leave on a fixed schedule, whatever the server does.

Each request has a *scheduled* send time (constant spacing or Poisson arrivals) and
its latency is measured from that time, not from when the client got round to
sending it. A server that stalls therefore shows the queueing it caused in every
request scheduled during the stall (no coordinated omission). How late the client
itself sent (``send_lag``) is recorded separately so its share can be told apart.

The schedule is a constant rate or a step/ramp profile (:mod:`loadgen.profile`);
calls go round-robin over the targets, one channel each (:mod:`loadgen.channels`:
TLS, mutual TLS, API key).

Two senders: ``thread`` (one thread sleeping with nanosecond timers, gRPC futures
completing on gRPC's own thread: precise at low and moderate rates) and ``aio``
(grpc.aio: cheaper per request at high rates, but asyncio timers have 1 ms grain).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from loadgen.channels import Security, aio_channel, sync_channel
from loadgen.profile import Profile
from loadgen.recorder import DETAILS_MAX, Recorder
from loadgen.workload import Pool

BACKLOG = "CLIENT_BACKLOG"  # not sent: more than max_outstanding calls were in flight
READY_TIMEOUT_S = 10.0


@contextlib.asynccontextmanager
async def aio_calls(
    targets: tuple[str, ...], method: str, security: Security
) -> AsyncIterator[list[Any]]:
    """``method`` (raw bytes in and out) on one grpc.aio channel per target, once every
    channel is connected; the channels close on exit."""
    async with contextlib.AsyncExitStack() as stack:
        calls = []
        for target in targets:
            channel = await stack.enter_async_context(aio_channel(target, security))
            await asyncio.wait_for(channel.channel_ready(), timeout=READY_TIMEOUT_S)
            calls.append(channel.unary_unary(method))
        yield calls


async def aio_outcome(
    call: Any, payload: bytes, timeout_s: float, metadata: Any = None
) -> tuple[grpc.StatusCode, Any, str]:
    """Await one ``call``: its status code, its response when OK (else None) and the
    status details when not."""
    try:
        return grpc.StatusCode.OK, await call(payload, timeout=timeout_s, metadata=metadata), ""
    except grpc.aio.AioRpcError as err:
        return err.code(), None, err.details() or ""


@dataclass(frozen=True)
class OpenLoopSpec:
    """One client process's share of an open-loop run."""

    targets: tuple[str, ...]
    method: str
    rate: float  # this process's requests per second (its peak, under a profile)
    duration_s: float  # measured window, after warm-up
    warmup_s: float = 1.0
    arrival: str = "poisson"  # or "constant"
    phase_s: float = 0.0  # offset of a constant schedule (interleaves processes)
    timeout_s: float = 5.0
    max_outstanding: int = 5000
    seed: int = 1
    profile: Profile | None = None  # this process's share; None: constant ``rate``
    security: Security = field(default_factory=Security)
    interval_s: float = 1.0
    details_max: int = DETAILS_MAX


def schedule(
    rate: float, span_s: float, arrival: str, rng: random.Random, phase_s: float = 0.0
) -> list[float]:
    """Send offsets in seconds from the start, all below ``span_s``, at a constant rate.

    ``constant``: ``phase + i / rate``. ``poisson``: exponential gaps of mean ``1/rate``.
    """
    if rate <= 0 or span_s <= 0:
        return []
    return Profile.constant(rate).offsets(span_s, arrival, rng, phase=phase_s * rate)


def _offsets(spec: OpenLoopSpec) -> list[float]:
    span = spec.warmup_s + spec.duration_s
    rng = random.Random(spec.seed)
    if spec.profile is None:
        return schedule(spec.rate, span, spec.arrival, rng, spec.phase_s)
    phase = spec.phase_s * spec.rate  # in requests: worker / processes
    return spec.profile.offsets(span, spec.arrival, rng, spec.warmup_s, phase)


def run_thread(spec: OpenLoopSpec, pool: Pool, start_at: float) -> dict[str, Any]:
    """Run ``spec`` with the thread sender; ``start_at`` is a ``time.time()`` instant."""
    channels = [sync_channel(t, spec.security) for t in spec.targets]
    try:
        for channel in channels:
            grpc.channel_ready_future(channel).result(timeout=READY_TIMEOUT_S)
        calls = [channel.unary_unary(spec.method) for channel in channels]
        t0 = time.perf_counter() + max(0.0, start_at - time.time())
        rec = Recorder(len(calls), t0 + spec.warmup_s, spec.interval_s, spec.details_max)
        for i, offset in enumerate(_offsets(spec)):
            due = t0 + offset
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            _send_future(calls, i, pool.payload(i), spec, rec, due)
        _drain(rec, spec.timeout_s + 2.0)
        return rec.result()
    finally:
        for channel in channels:
            channel.close()


def _send_future(
    calls: list[Any], i: int, payload: bytes, spec: OpenLoopSpec, rec: Recorder, due: float
) -> None:
    target = i % len(calls)
    if rec.outstanding >= spec.max_outstanding:
        if rec.measured(due):
            rec.refused(target, due, BACKLOG)
        return
    rec.sent_one(time.perf_counter() - due, rec.measured(due))
    future = calls[target].future(payload, timeout=spec.timeout_s, metadata=spec.security.metadata)
    future.add_done_callback(_on_done(rec, target, due))


def _on_done(rec: Recorder, target: int, due: float) -> Callable[[Any], None]:
    def done(future: Any) -> None:
        code = future.code()
        if code is grpc.StatusCode.OK:
            rec.finished(target, due, code, future.result())
        else:
            rec.finished(target, due, code, None, future.details() or "")

    return done


def _drain(rec: Recorder, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while rec.outstanding > 0 and time.monotonic() < deadline:
        time.sleep(0.005)


def run_aio(spec: OpenLoopSpec, pool: Pool, start_at: float) -> dict[str, Any]:
    """Run ``spec`` with the grpc.aio sender; ``start_at`` is a ``time.time()`` instant."""
    return asyncio.run(_run_aio(spec, pool, start_at))


async def _run_aio(spec: OpenLoopSpec, pool: Pool, start_at: float) -> dict[str, Any]:
    async with aio_calls(spec.targets, spec.method, spec.security) as calls:
        tasks: set[asyncio.Task[None]] = set()
        t0 = time.perf_counter() + max(0.0, start_at - time.time())
        rec = Recorder(len(calls), t0 + spec.warmup_s, spec.interval_s, spec.details_max)
        for i, offset in enumerate(_offsets(spec)):
            due = t0 + offset
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            target = i % len(calls)
            if rec.outstanding >= spec.max_outstanding:
                if rec.measured(due):
                    rec.refused(target, due, BACKLOG)
                continue
            rec.sent_one(time.perf_counter() - due, rec.measured(due))
            one = _one_aio(calls[target], target, pool.payload(i), spec, rec, due)
            task = asyncio.ensure_future(one)
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=spec.timeout_s + 2.0)
        return rec.result()


async def _one_aio(
    call: Any, target: int, payload: bytes, spec: OpenLoopSpec, rec: Recorder, due: float
) -> None:
    code, response, message = await aio_outcome(
        call, payload, spec.timeout_s, spec.security.metadata
    )
    rec.finished(target, due, code, response, message)
