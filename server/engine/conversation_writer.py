"""Conversation-state updates off the request path: one thread, submission order, in
batches (whatever is queued when the thread gets to it, one round trip each).

A turn's update is a compare-and-set round trip to the store; made on the request's
thread it would add that round trip (and, under load, a wait for the GIL after it)
to every Decide, although the answer does not depend on it. So the engine submits it
here and answers at once. Order and visibility are kept where they matter:

* updates run in the order they were submitted, so a turn is stored before the
  outcome of its decision is applied;
* a read of a conversation with updates still queued waits for them (bounded), so a
  conversation's next turn sees its previous one; an outcome waits for its own update,
  so after RecordOutcome returns the next Decide sees the failure;
* when the queue is full the submitter waits for room (back-pressure), and after the
  wait bound applies its update itself: an update is never dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

#: An update of one conversation: (conversation id, what the batch function needs).
Item = tuple[str, Any]
#: Most updates handed to the batch function at once.
MAX_BATCH = 256
#: How long after the last deferred write the idle function keeps running.
LINGER_S = 1.0


class ConversationWriter:
    """Hands submitted updates to ``apply_batch`` on one daemon thread, FIFO; the
    function must not raise for an update (it counts its own failures)."""

    def __init__(
        self,
        apply_batch: Callable[[Sequence[Item]], None],
        idle: Callable[[], None] | None = None,
        idle_s: float = 0.005,
        max_queued: int = 10_000,
        full_wait_s: float = 1.0,
    ) -> None:
        """``idle`` runs on the thread every ``idle_s`` while deferred writes are about
        (:meth:`poke`, the writes no feature read has carried yet); a second after the
        last poke the thread sleeps until work comes, so a server whose requests name
        no conversation pays nothing for it."""
        self._apply = apply_batch
        self._idle = idle
        self._idle_s = idle_s
        self._poked = -LINGER_S
        self._sleeping = False
        self._queue: deque[Item] = deque()
        self._pending: Counter[str] = Counter()
        self._cond = threading.Condition()
        self._max_queued = max_queued
        self._full_wait_s = full_wait_s
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="conversation-writer", daemon=True)
        self._thread.start()

    def submit(self, items: Sequence[Item]) -> None:
        """Queue ``items`` (updates of conversation ``item[0]``) together, so they reach
        the batch function together (a decided batch's turns share one round trip)."""
        with self._cond:
            if not self._closed and len(self._queue) >= self._max_queued:
                self._cond.wait_for(lambda: len(self._queue) < self._max_queued, self._full_wait_s)
            if self._closed or len(self._queue) >= self._max_queued:
                inline = True
            else:
                inline = False
                self._queue.extend(items)
                for conversation_id, _ in items:
                    self._pending[conversation_id] += 1
                self._cond.notify_all()
        if inline:  # closed or still full: do it here rather than lose it
            self._apply(items)

    def poke(self) -> None:
        """Deferred writes wait: run the idle function soon (wakes a sleeping thread)."""
        self._poked = time.monotonic()
        if self._sleeping:
            with self._cond:
                self._cond.notify_all()

    def pending(self, conversation_id: str) -> bool:
        """Whether updates of ``conversation_id`` are queued or running."""
        return self._pending.get(conversation_id, 0) > 0

    def wait_for(self, conversation_id: str, timeout_s: float) -> bool:
        """Wait until no update of ``conversation_id`` is queued or running."""
        with self._cond:
            return self._cond.wait_for(lambda: not self.pending(conversation_id), timeout_s)

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every submitted update ran; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending, timeout_s)

    def close(self, timeout_s: float | None = None) -> None:
        """Run what is queued (up to ``timeout_s``), then stop the thread."""
        self.flush(timeout_s)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout_s)

    def _woken(self, since: float) -> Callable[[], bool]:
        return lambda: bool(self._queue) or self._closed or self._poked > since

    def _run(self) -> None:
        while True:
            if self._idle is not None:
                self._idle()
            with self._cond:
                slept_at = time.monotonic()
                active = self._idle is not None and slept_at - self._poked < LINGER_S
                self._sleeping = not active
                self._cond.wait_for(self._woken(slept_at), self._idle_s if active else None)
                self._sleeping = False
                if not self._queue:
                    if self._closed:
                        return  # closed and drained
                    continue
                count = min(len(self._queue), MAX_BATCH)
                batch = [self._queue.popleft() for _ in range(count)]
            try:
                self._apply(batch)
            except Exception:  # the function counts its own failures; this is a bug guard
                log.exception("conversation state updates raised")
            finally:
                with self._cond:
                    for conversation_id, _ in batch:
                        self._pending[conversation_id] -= 1
                        if self._pending[conversation_id] <= 0:
                            del self._pending[conversation_id]
                    self._cond.notify_all()
