"""Adaptive batching of concurrent Decide calls, without a batching thread.

Most of a decision's cost is per call, not per row: a feature-store round trip and
three model runs cost about the same for one customer as for eight (see
docs/performance.md). So when several Decide calls are in flight at once, the engine
decides them together: one read, one run per model, for all of them.

:class:`MicroBatcher` does it the leader/follower way. A call that finds the engine idle
runs at once on its own thread, alone: an idle server adds no hand-off and no wait
(there is no batching window). Calls that arrive while a batch runs queue up; when the
batch ends, its leader hands the results to its followers and wakes the oldest queued
call, which then leads the next batch with everything queued by then (up to
``max_batch``). So the batch size follows the load, each thread runs at most its own
call's batch, and no call waits for more than the batch ahead of it.

An exception from the batch function is the outcome of every call in that batch, so
callers validate what is specific to one call before they submit it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Slot(Generic[T, R]):
    """One submitted call: its item, its outcome and the lock its thread sleeps on."""

    __slots__ = ("error", "item", "lead", "result", "wake")

    def __init__(self, item: T) -> None:
        self.item = item
        self.result: R | None = None
        self.error: BaseException | None = None
        self.lead = False  # woken to lead the next batch rather than with an outcome
        self.wake = threading.Lock()
        self.wake.acquire()  # released exactly once, by whoever wakes this call

    def outcome(self) -> R:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class MicroBatcher(Generic[T, R]):
    """Run ``run_batch`` over the items of calls that overlap in time.

    ``run_batch(items)`` must return one result per item, in order. Thread-safe;
    ``max_batch`` of 1 runs every call alone (still one at a time).
    """

    def __init__(self, run_batch: Callable[[list[T]], Sequence[R]], max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self._run_batch = run_batch
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: deque[_Slot[T, R]] = deque()
        self._busy = False
        self.batches = 0  # batches run so far (for tests and metrics)
        self.items = 0  # items decided so far

    def submit(self, item: T) -> R:
        """Decide ``item``, alone or with the calls it overlaps; return its result."""
        slot: _Slot[T, R] = _Slot(item)
        with self._lock:
            if self._busy:
                self._queue.append(slot)
            else:
                self._busy = True
                slot.lead = True
        if not slot.lead:
            slot.wake.acquire()  # a leader set our outcome, or made us lead
        if slot.lead:
            self._lead(slot)
        return slot.outcome()

    def _lead(self, first: _Slot[T, R]) -> None:
        batch = [first]
        with self._lock:
            while self._queue and len(batch) < self.max_batch:
                batch.append(self._queue.popleft())
        try:
            results = self._run_batch([slot.item for slot in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"batch of {len(batch)} returned {len(results)} results")
            for slot, result in zip(batch, results, strict=True):
                slot.result = result
        except BaseException as exc:  # every caller in the batch gets it, nobody hangs
            for slot in batch:
                slot.error = exc
        finally:
            self.batches += 1
            self.items += len(batch)
            self._hand_over(batch)

    def _hand_over(self, batch: list[_Slot[T, R]]) -> None:
        """Wake the followers with their outcomes and the next leader, if any."""
        with self._lock:
            successor = self._queue.popleft() if self._queue else None
            if successor is None:
                self._busy = False
            else:
                successor.lead = True
        for slot in batch[1:]:
            slot.wake.release()
        if successor is not None:
            successor.wake.release()
