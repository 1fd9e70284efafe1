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
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from server import metrics
from server.features.conversation import OK, UNMATCHED, ConversationRead, Update


@dataclass(frozen=True, slots=True)
class Entry:
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
        self._inflight: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, entries: Iterable[Entry]) -> None:
        with self._cond:
            self._entries.extend(entries)

    def take(self) -> list[Entry]:
        """Everything queued, now marked in flight until :meth:`done`."""
        if not self._entries:  # the common case under no conversations: no lock
            return []
        with self._cond:
            taken, self._entries = self._entries, []
            self._inflight.update(e.conversation_id for e in taken)
        return taken

    def done(self, taken: Sequence[Entry]) -> None:
        """``taken`` reached Redis (or failed): no longer in flight."""
        if not taken:
            return
        with self._cond:
            self._inflight.subtract(e.conversation_id for e in taken)
            self._inflight = +self._inflight  # drop the zeros
            self._cond.notify_all()

    def wait_landed(self, conversation_ids: Sequence[str], timeout_s: float) -> bool:
        """Wait until no write of these conversations is in flight."""
        if not self._inflight:
            return True
        with self._cond:
            return self._cond.wait_for(
                lambda: not any(c in self._inflight for c in conversation_ids), timeout_s
            )


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
        retry: list[Update] = []
        for i, entry in enumerate(taken):
            if replies is not None and replies[i] == 1:
                for _ in entry.updates:
                    metrics.conversation_write("turn", OK)
            else:  # lost its race, or its fate is unknown: folds are idempotent, redo
                retry += entry.updates
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
