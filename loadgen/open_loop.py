"""Open-loop load: requests leave on a fixed schedule, whatever the server does.

Each request has a *scheduled* send time (constant spacing or Poisson arrivals) and
its latency is measured from that time, not from when the client got round to
sending it. A server that stalls therefore shows the queueing it caused in every
request scheduled during the stall (no coordinated omission). How late the client
itself sent (``send_lag``) is recorded separately so its share can be told apart.

Two senders: ``thread`` (one thread sleeping with nanosecond timers, gRPC futures
completing on gRPC's own thread: precise at low and moderate rates) and ``aio``
(grpc.aio: cheaper per request at high rates, but asyncio timers have 1 ms grain).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from loadgen.responses import ResponseSampler
from loadgen.stats import LatencyStats

CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.max_send_message_length", 64 << 20),
]
BACKLOG = "CLIENT_BACKLOG"  # not sent: more than max_outstanding calls were in flight
READY_TIMEOUT_S = 10.0


@contextlib.asynccontextmanager
async def aio_call(target: str, method: str) -> AsyncIterator[Any]:
    """``method`` (raw bytes in and out) on a grpc.aio channel to ``target``, once the
    channel is connected; the channel closes on exit."""
    async with grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS) as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=READY_TIMEOUT_S)
        yield channel.unary_unary(method)


async def aio_outcome(call: Any, payload: bytes, timeout_s: float) -> tuple[grpc.StatusCode, Any]:
    """Await one ``call``: its status code and, when OK, its response (else None)."""
    try:
        return grpc.StatusCode.OK, await call(payload, timeout=timeout_s)
    except grpc.aio.AioRpcError as err:
        return err.code(), None


@dataclass(frozen=True)
class OpenLoopSpec:
    """One client process's share of an open-loop run."""

    target: str
    method: str
    rate: float  # this process's requests per second
    duration_s: float  # measured window, after warm-up
    warmup_s: float = 1.0
    arrival: str = "poisson"  # or "constant"
    phase_s: float = 0.0  # offset of a constant schedule (interleaves processes)
    timeout_s: float = 5.0
    max_outstanding: int = 5000
    seed: int = 1


def schedule(
    rate: float, span_s: float, arrival: str, rng: random.Random, phase_s: float = 0.0
) -> list[float]:
    """Send offsets in seconds from the start, all below ``span_s``.

    ``constant``: ``phase + i / rate``. ``poisson``: exponential gaps of mean ``1/rate``.
    """
    if rate <= 0 or span_s <= 0:
        return []
    if arrival == "constant":
        count = math.ceil(max(0.0, span_s - phase_s) * rate - 1e-9)
        return [phase_s + i / rate for i in range(count) if phase_s + i / rate < span_s]
    if arrival != "poisson":
        raise ValueError(f"arrival must be constant or poisson, got {arrival!r}")
    offsets, now = [], rng.expovariate(rate)
    while now < span_s:
        offsets.append(now)
        now += rng.expovariate(rate)
    return offsets


def _offsets(spec: OpenLoopSpec) -> list[float]:
    span = spec.warmup_s + spec.duration_s
    return schedule(spec.rate, span, spec.arrival, random.Random(spec.seed), spec.phase_s)


class _Recorder:
    """Thread-safe outcome recording for calls scheduled in the measured window."""

    def __init__(self) -> None:
        self.stats, self.lag = LatencyStats(), LatencyStats()
        self.responses = ResponseSampler()
        self.lock = threading.Lock()
        self.outstanding = 0
        self.sent = 0  # measured calls
        self.issued = 0  # all calls, warm-up included

    def sent_one(self, lag_s: float, measured: bool) -> None:
        with self.lock:
            self.outstanding += 1
            self.issued += 1
            if measured:
                self.sent += 1
                self.lag.record(lag_s * 1e6)

    def finished(self, due: float, code: grpc.StatusCode, measured: bool, response: Any) -> None:
        latency_us = (time.perf_counter() - due) * 1e6
        with self.lock:
            self.outstanding -= 1
            if measured:
                if code is grpc.StatusCode.OK:
                    self.stats.record(latency_us)
                    self.responses.offer(response)
                else:
                    self.stats.record_error(code.name)

    def result(self) -> dict[str, Any]:
        wire = {
            "stats": self.stats.to_wire(),
            "lag": self.lag.to_wire(),
            "samples": self.responses.samples,
        }
        return {**wire, "sent": self.sent, "issued": self.issued}


def run_thread(spec: OpenLoopSpec, pool: list[bytes], start_at: float) -> dict[str, Any]:
    """Run ``spec`` with the thread sender; ``start_at`` is a ``time.time()`` instant."""
    channel = grpc.insecure_channel(spec.target, options=CHANNEL_OPTIONS)
    try:
        grpc.channel_ready_future(channel).result(timeout=10)
        call = channel.unary_unary(spec.method)
        rec = _Recorder()
        t0 = time.perf_counter() + max(0.0, start_at - time.time())
        for i, offset in enumerate(_offsets(spec)):
            due = t0 + offset
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            _send_future(call, pool[i % len(pool)], spec, rec, due, offset >= spec.warmup_s)
        _drain(rec, spec.timeout_s + 2.0)
        return rec.result()
    finally:
        channel.close()


def _send_future(
    call: Any, payload: bytes, spec: OpenLoopSpec, rec: _Recorder, due: float, measured: bool
) -> None:
    if rec.outstanding >= spec.max_outstanding:
        if measured:
            with rec.lock:
                rec.stats.record_error(BACKLOG)
        return
    rec.sent_one(time.perf_counter() - due, measured)
    future = call.future(payload, timeout=spec.timeout_s)
    future.add_done_callback(_on_done(rec, due, measured))


def _on_done(rec: _Recorder, due: float, measured: bool) -> Callable[[Any], None]:
    def done(future: Any) -> None:
        code = future.code()
        rec.finished(due, code, measured, future.result() if code is grpc.StatusCode.OK else None)

    return done


def _drain(rec: _Recorder, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while rec.outstanding > 0 and time.monotonic() < deadline:
        time.sleep(0.005)


def run_aio(spec: OpenLoopSpec, pool: list[bytes], start_at: float) -> dict[str, Any]:
    """Run ``spec`` with the grpc.aio sender; ``start_at`` is a ``time.time()`` instant."""
    return asyncio.run(_run_aio(spec, pool, start_at))


async def _run_aio(spec: OpenLoopSpec, pool: list[bytes], start_at: float) -> dict[str, Any]:
    async with aio_call(spec.target, spec.method) as call:
        rec, tasks = _Recorder(), set()
        t0 = time.perf_counter() + max(0.0, start_at - time.time())
        for i, offset in enumerate(_offsets(spec)):
            due = t0 + offset
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            measured = offset >= spec.warmup_s
            if rec.outstanding >= spec.max_outstanding:
                if measured:
                    rec.stats.record_error(BACKLOG)
                continue
            rec.sent_one(time.perf_counter() - due, measured)
            task = asyncio.ensure_future(
                _one_aio(call, pool[i % len(pool)], spec, rec, due, measured)
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=spec.timeout_s + 2.0)
        return rec.result()


async def _one_aio(
    call: Any, payload: bytes, spec: OpenLoopSpec, rec: _Recorder, due: float, measured: bool
) -> None:
    code, response = await aio_outcome(call, payload, spec.timeout_s)
    rec.finished(due, code, measured, response)
