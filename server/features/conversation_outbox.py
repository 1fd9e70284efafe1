"""Compare-and-sets of conversation rows waiting for the next round trip to Redis.

On this path a system call costs tens of microseconds and a thread hand-off more, so a
turn's update does not get a round trip (or a thread) of its own: the request folds
the turn onto the state it read and queues the encoded compare-and-set here; the next
feature read sends whatever is queued ahead of its own HMGETs, in the same pipeline
(``RedisFeatureReader.read_with``), and the writer thread sends what is left when no
read came for a few milliseconds. Redis runs a connection's commands in order, so a
read that carries queued writes sees them. While writes are on their way on another
connection (``inflight``), a read of the same conversation waits for them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from server import metrics
from server.features.conversation import OK, UNMATCHED, ConversationRead, Update


class Entry(NamedTuple):
    """One queued compare-and-set: its RESP bytes, and the updates it carries (their
    folds, to apply again from a fresh read if it loses its race)."""

    payload: bytes
    conversation_id: str
    updates: tuple[Update, ...]


class Outbox:
    """Thread-safe queue of :class:`Entry` plus the conversations in flight."""

    def __init__(self) -> None:
        self._entries: list[Entry] = []
        self._cond = threading.Condition()
        self._inflight: dict[str, int] = {}
        self._waiting = 0  # threads in wait_landed: done() wakes them only if any

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, entries: list[Entry]) -> None:
        with self._cond:
            self._entries += entries

    def take(self) -> list[Entry]:
        """Everything queued, now marked in flight until :meth:`done`."""
        if not self._entries:  # the common case under no conversations: no lock
            return []
        with self._cond:
            taken, self._entries = self._entries, []
            inflight = self._inflight
            for entry in taken:
                cid = entry.conversation_id
                inflight[cid] = inflight.get(cid, 0) + 1
        return taken

    def done(self, taken: Sequence[Entry]) -> None:
        """``taken`` reached Redis (or failed): no longer in flight."""
        if not taken:
            return
        with self._cond:
            inflight = self._inflight
            for entry in taken:
                cid = entry.conversation_id
                left = inflight[cid] - 1
                if left:
                    inflight[cid] = left
                else:
                    del inflight[cid]
            if self._waiting:
                self._cond.notify_all()

    def wait_landed(self, conversation_ids: Sequence[str], timeout_s: float) -> bool:
        """Wait until no write of these conversations is in flight."""
        if not self._inflight:
            return True
        with self._cond:
            self._waiting += 1
            try:
                return self._cond.wait_for(
                    lambda: not any(c in self._inflight for c in conversation_ids), timeout_s
                )
            finally:
                self._waiting -= 1


class DeferredWrites:
    """The deferred-write half of a store that sends raw commands (a mixin of
    ``RedisConversationStore``, which provides ``_payload``, ``_send`` and ``clock``)."""

    _outbox: Outbox
    clock: Callable[[], float]
    #: Where updates whose deferred write lost (or was lost) go: the writer's slow path.
    on_retry: Callable[[list[Update]], None]

    def _payload(self, read: ConversationRead, state: Any, now: float) -> bytes:
        raise NotImplementedError

    def _send(self, payload: bytes, count: int) -> list[Any]:
        raise NotImplementedError

    def defer(self, updates: Sequence[Update]) -> list[Update]:
        """Fold each conversation's updates onto the read they carry and queue one
        compare-and-set per conversation for the next round trip."""
        groups: dict[str, list[Update]] = {}
        for update in updates:
            groups.setdefault(update[0], []).append(update)
        leftovers: list[Update] = []
        entries = []
        now = self.clock()
        for cid, group in groups.items():
            first = group[0][2]
            if first is None or first.unavailable:
                leftovers += group
                continue
            state = first.state
            for _, fold, _ in group:
                folded = fold(state)
                if folded is None:
                    metrics.conversation_write("turn", UNMATCHED)
                else:
                    state = folded
            if state is not None and state is not first.state:
                again = tuple((cid, fold, None) for _, fold, _ in group)
                entries.append(Entry(self._payload(first, state, now), cid, again))
        self._outbox.put(entries)
        return leftovers

    def take_outbox(self) -> list[Entry]:
        return self._outbox.take()

    def outbox_payload(self, taken: Sequence[Entry]) -> bytes:
        return b"".join([e.payload for e in taken])

    def settle(self, taken: Sequence[Entry], replies: Sequence[Any] | None) -> None:
        if not taken:
            return
        retry: list[Update] = []
        written = 0
        for i, entry in enumerate(taken):
            if replies is not None and replies[i] == 1:
                written += len(entry.updates)
            else:  # lost its race, or its fate is unknown: folds are idempotent, redo
                retry += entry.updates
        if written:
            metrics.conversation_write("turn", OK, written)
        self._outbox.done(taken)
        if retry:
            self.on_retry(retry)

    def flush_outbox(self) -> None:
        taken = self._outbox.take()
        if not taken:
            return
        try:
            replies = self._send(self.outbox_payload(taken), len(taken))
        except Exception:
            self.settle(taken, None)
            raise
        self.settle(taken, replies)

    def wait_landed(self, conversation_ids: Sequence[str], timeout_s: float) -> None:
        self._outbox.wait_landed(conversation_ids, timeout_s)
