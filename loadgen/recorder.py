"""What one client process measured: stats per target, per interval, and call details.

Every measured call lands in its target's :class:`LatencyStats` and in the one of the
interval its send time falls in (``interval_s`` wide, counted from the start of the
measured window, which all processes share), so per-second throughput, percentiles
and errors merge across processes exactly like the totals do. The first
``details_max`` calls are also kept one by one (time, latency, status, message) for
ghz-style reports.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import grpc

from loadgen.responses import ResponseSampler
from loadgen.stats import INTERVAL_DIGITS, LatencyStats

DETAILS_MAX = 100_000  # per process


class Recorder:
    """Thread-safe outcome recording (the thread sender completes calls on gRPC's threads)."""

    def __init__(
        self,
        targets: int,
        measure_from: float,
        interval_s: float = 1.0,
        details_max: int = DETAILS_MAX,
    ) -> None:
        self.by_target = [LatencyStats() for _ in range(targets)]
        self.series: dict[int, LatencyStats] = {}
        self.lag = LatencyStats()
        self.responses = ResponseSampler()
        self.details: list[tuple[float, int, str, str]] = []
        self.measure_from, self.interval_s = measure_from, interval_s
        self.details_max = details_max
        self.lock = threading.Lock()
        self.wall_offset = time.time() - time.perf_counter()
        self.outstanding = 0
        self.sent = 0  # measured calls
        self.issued = 0  # all calls, warm-up included

    def measured(self, due: float) -> bool:
        return due >= self.measure_from

    def sent_one(self, lag_s: float, measured: bool) -> None:
        with self.lock:
            self.outstanding += 1
            self.issued += 1
            if measured:
                self.sent += 1
                self.lag.record(lag_s * 1e6)

    def finished(
        self,
        target: int,
        due: float,
        code: grpc.StatusCode,
        response: Any = None,
        message: str = "",
    ) -> None:
        """One call to target number ``target``, due (scheduled or started) at ``due``."""
        latency_us = (time.perf_counter() - due) * 1e6
        with self.lock:
            self.outstanding -= 1
            if self.measured(due):
                self._record(target, due, code.name, latency_us, message)
                if code is grpc.StatusCode.OK:
                    self.responses.offer(response)

    def refused(self, target: int, due: float, code: str) -> None:
        """A measured call the client did not send (e.g. CLIENT_BACKLOG)."""
        with self.lock:
            self._record(target, due, code, 0.0, "not sent")

    def _record(self, target: int, due: float, code: str, latency_us: float, msg: str) -> None:
        slot = int((due - self.measure_from) // self.interval_s)
        interval = self.series.get(slot)
        if interval is None:
            interval = self.series[slot] = LatencyStats(INTERVAL_DIGITS)
        for stats in (self.by_target[target], interval):
            if code == "OK":
                stats.record(latency_us)
            else:
                stats.record_error(code, latency_us, msg)
        if len(self.details) < self.details_max:
            when = round(due + self.wall_offset, 6)
            self.details.append((when, round(latency_us * 1e3), code, "" if code == "OK" else msg))

    def result(self) -> dict[str, Any]:
        """Picklable, JSON-able outcome of this process."""
        with self.lock:
            return {
                "targets": [s.to_wire() for s in self.by_target],
                "series": {str(k): s.to_wire() for k, s in sorted(self.series.items())},
                "lag": self.lag.to_wire(),
                "samples": self.responses.samples,
                "details": list(self.details),
                "sent": self.sent,
                "issued": self.issued,
                "started_at": self.measure_from + self.wall_offset,  # time.time() instant
            }
