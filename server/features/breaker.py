"""A circuit breaker for the online store: stop calling it while it keeps failing.

States: **closed** (every call goes through; ``failure_threshold`` consecutive failures
open it), **open** (calls fail fast without touching the store for ``open_s``), then
**half-open** (ONE probe call goes through while the others still fail fast; its
success closes the breaker, its failure opens it again for another ``open_s``).

The breaker only counts; callers report each call's outcome with
:meth:`CircuitBreaker.record_success` / :meth:`CircuitBreaker.record_failure`. Every
state change is passed to ``on_change`` (outside the lock), never each call.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


#: ``on_change(old, new, why)``; ``why`` is the failure reason, or "probe succeeded".
OnChange = Callable[[BreakerState, BreakerState, str], None]


class CircuitBreaker:
    """Thread-safe closed/open/half-open breaker with an injectable monotonic clock."""

    def __init__(
        self,
        failure_threshold: int,
        open_s: float,
        clock: Callable[[], float] = time.monotonic,
        on_change: OnChange | None = None,
    ) -> None:
        if failure_threshold < 1 or open_s <= 0:
            raise ValueError("failure_threshold must be >= 1 and open_s > 0")
        self._threshold = failure_threshold
        self._open_s = open_s
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0  # consecutive, while closed
        self._since = 0.0  # when it opened, or when the current probe started

    @property
    def state(self) -> BreakerState:
        return self._state

    def allow(self) -> bool:
        """May a call go to the store now? False means: fail fast."""
        changed = None
        with self._lock:
            state = self._state
            if state is BreakerState.CLOSED:
                return True
            now = self._clock()
            if now - self._since < self._open_s:
                return False  # still open, or a probe is in flight
            # Open long enough: this call is the probe. In half-open that means the
            # previous probe never reported back within open_s; do not wait forever.
            self._since = now
            if state is BreakerState.OPEN:
                self._state = BreakerState.HALF_OPEN
                changed = (state, BreakerState.HALF_OPEN, "probing the store")
        self._notify(changed)
        return True

    def record_success(self) -> None:
        """The store answered. While open, a late answer to a call admitted before the
        breaker opened proves little, so only a half-open breaker closes on it."""
        changed = None
        with self._lock:
            self._failures = 0
            if self._state is BreakerState.HALF_OPEN:
                changed = (self._state, BreakerState.CLOSED, "probe succeeded")
                self._state = BreakerState.CLOSED
        self._notify(changed)

    def record_failure(self, reason: str) -> None:
        """The store failed or timed out (``reason`` is the degraded reason)."""
        changed = None
        with self._lock:
            state = self._state
            if state is BreakerState.OPEN:
                return  # a straggler admitted before it opened; already counted
            self._failures += 1
            if state is BreakerState.HALF_OPEN or self._failures >= self._threshold:
                self._state = BreakerState.OPEN
                self._since = self._clock()
                self._failures = 0
                changed = (state, BreakerState.OPEN, reason)
        self._notify(changed)

    def _notify(self, changed: tuple[BreakerState, BreakerState, str] | None) -> None:
        if changed is not None and self._on_change is not None:
            self._on_change(*changed)
