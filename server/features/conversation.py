"""Per-conversation state in the online store: one row of ``conversation_state_fv`` per
conversation, in Feast's own layout, so ``get_online_features`` with the
``conversation_state_v1`` service returns it (and Feast's tools list it).

A :class:`ConversationStore` reads rows (:class:`ConversationRead`: the
``modelio.conversation`` state, the row's event time and an opaque version) and
updates them with a compare-and-set: :meth:`ConversationStore.update` folds a change
(a turn, an outcome) over the state it read and writes it only if the row still has
the version it read; on a conflict it re-reads and re-applies, at most ``retries``
times. A race lost that often is reported (``"lost"``), never dropped silently.

Stores: :class:`FeastConversationStore` here (any online store, through Feast's
``get_online_features`` / ``write_to_online_store``, under the reader's lock: the
embedded SQLite default), and ``server.features.conversation_redis`` (a Lua
compare-and-set, with the row read in the customer's own pipeline).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from modelio.conversation import (
    CONVERSATION_FEATURES,
    CONVERSATION_KEY,
    ConversationState,
    from_row,
    to_row,
)
from server.features.base import Clock, CustomerFeatures, now_clock

#: The FeatureService that holds ``conversation_state_fv`` (feature_repo/).
CONVERSATION_SERVICE = "conversation_state_v1"
#: Results of :meth:`ConversationStore.update` (the metric's ``result`` label).
OK, UNMATCHED, LOST = "ok", "unmatched", "lost"

Fold = Callable[[ConversationState | None], ConversationState | None]
#: One update: the conversation, the change, and a read made earlier (or None).
Update = tuple[str, Fold, "ConversationRead | None"]


class ConversationRead(NamedTuple):
    """One conversation's row as read: its state (None when absent, expired or
    incomplete), the row's event time (unix s, -1 when absent) and the version a
    compare-and-set must find (store-specific; None when the row does not exist).
    ``unavailable``: the store could not be read (no state, and no version to write on).
    A named tuple: one is built per turn, on the request's thread."""

    conversation_id: str
    state: ConversationState | None
    event_time: float
    version: Any = None
    unavailable: bool = False

    def age_seconds(self, now: float) -> float:
        """Seconds since the row was written; -1 when there is no state."""
        return -1.0 if self.state is None else max(0.0, now - self.event_time)


def read_of(row: CustomerFeatures, view: str, version: Any) -> ConversationRead:
    """A reader's row of the conversation view as a :class:`ConversationRead`."""
    event_time = row.event_times.get(view, -1.0)
    state = from_row(row.values) if event_time > 0 else None
    return ConversationRead(row.customer_id, state, event_time if state else -1.0, version)


class ConversationStore(ABC):
    """Reads and compare-and-set writes of conversation rows; thread-safe."""

    def __init__(self, retries: int, clock: Clock = now_clock) -> None:
        self.retries = retries
        self.clock = clock
        #: Where updates whose deferred write lost its race go (set by the engine).
        self.on_retry: Callable[[list[Update]], None] = lambda updates: None

    @abstractmethod
    def read(self, conversation_ids: Sequence[str]) -> list[ConversationRead]:
        """One read per id, same order, in one round trip."""

    @abstractmethod
    def write(self, read: ConversationRead, state: ConversationState, now: float) -> bool:
        """Store ``state`` stamped ``now`` if the row still has ``read.version``; False
        (nothing written) when another update got there first."""

    def commands(self, conversation_ids: Sequence[str]) -> list[tuple[str | bytes, ...]] | None:
        """Raw store commands reading these rows, for a reader that sends them in the
        customer's own round trip (:meth:`parse` reads the replies); None: not supported."""
        return None

    def command_bytes(self, conversation_ids: Sequence[str]) -> bytes | None:
        """:meth:`commands` as the store's wire bytes, for a reader that writes raw
        commands (None: the reader encodes them itself)."""
        return None

    def parse(
        self, conversation_ids: Sequence[str], replies: Sequence[Any], now: float
    ) -> list[ConversationRead]:
        """The replies of :meth:`commands` as reads."""
        raise NotImplementedError

    def write_many(
        self, writes: Sequence[tuple[ConversationRead, ConversationState]], now: float
    ) -> list[bool]:
        """:meth:`write` of each pair (a store may send them in one round trip)."""
        return [self.write(read, state, now) for read, state in writes]

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the store holds of its own (the reader owns the client)."""

    # --- deferred writes (server.features.conversation_outbox); none by default ------

    #: True when :meth:`defer` queues writes for the next round trip.
    deferred = False

    def defer(self, updates: Sequence[Update]) -> list[Update]:
        """Queue the updates' writes for the next round trip; returns those it could
        not (no usable read to fold onto), for :meth:`update_many`."""
        return list(updates)

    def take_outbox(self) -> list[Any]:
        """Queued writes for a reader to send ahead of its reads (marked in flight)."""
        return []

    def outbox_payload(self, taken: Sequence[Any]) -> bytes:
        """The raw commands of ``taken``; each has one reply."""
        return b""

    def settle(  # noqa: B027 - optional hook
        self, taken: Sequence[Any], replies: Sequence[Any] | None
    ) -> None:
        """The replies of ``taken`` (None: unknown, the round trip failed)."""

    def flush_outbox(self) -> None:  # noqa: B027 - optional hook
        """Send whatever is queued now, on the store's own connection."""

    def wait_landed(  # noqa: B027 - optional hook
        self, conversation_ids: Sequence[str], timeout_s: float
    ) -> None:
        """Wait until queued writes of these conversations reached the store."""

    def update(
        self, conversation_id: str, fold: Fold, first: ConversationRead | None = None
    ) -> str:
        """Apply ``fold`` to the stored state and write the result atomically.

        ``first`` is a read made earlier (the decision's own), used for the first
        attempt. Returns ``ok``, ``unmatched`` (``fold`` returned None: nothing to
        change) or ``lost``; store errors propagate.
        """
        return self.update_many([(conversation_id, fold, first)])[0]

    def update_many(self, updates: Sequence[Update]) -> list[str]:
        """:meth:`update` of each ``(conversation_id, fold, first)``, in order, with one
        read and one write round trip per attempt: the folds of one conversation are
        chained onto one compare-and-set; a conversation that lost its race is re-read
        and its folds re-applied, at most :attr:`retries` attempts."""
        groups: dict[str, list[int]] = {}
        reads: dict[str, ConversationRead | None] = {}
        for i, (cid, _, first) in enumerate(updates):
            if cid not in groups:
                groups[cid] = []
                reads[cid] = first if first is not None and not first.unavailable else None
            groups[cid].append(i)
        results = [LOST] * len(updates)
        pending = list(groups)
        for _ in range(self.retries):
            missing = [cid for cid in pending if reads[cid] is None]
            for got in self.read(missing) if missing else ():
                reads[got.conversation_id] = got
            planned: list[tuple[str, ConversationRead, ConversationState]] = []
            for cid in pending:
                read = reads[cid]
                if read is None:  # a store that answered fewer rows than asked
                    continue
                state = read.state
                for i in groups[cid]:
                    folded = updates[i][1](state)
                    results[i] = UNMATCHED if folded is None else OK
                    state = folded if folded is not None else state
                if state is not read.state and state is not None:
                    planned.append((cid, read, state))
            written = self.write_many([(r, st) for _, r, st in planned], self.clock())
            pending = []
            for (cid, _, _), ok in zip(planned, written, strict=True):
                if not ok:
                    reads[cid] = None
                    pending.append(cid)
            if not pending:
                return results
        for cid in pending:  # still losing: nothing of it was written
            for i in groups[cid]:
                results[i] = LOST
        return results


class FeastConversationStore(ConversationStore):
    """Through Feast's own API (the SQLite default): reads with ``get_online_features``
    and writes with ``write_to_online_store``, the check and the write under ``lock``
    (the reader's: Feast's SQLite store shares one connection), so a compare-and-set is
    atomic within the process. The view's TTL is applied on read like other views."""

    def __init__(
        self,
        store: Any,
        lock: threading.Lock,
        retries: int,
        clock: Clock = now_clock,
    ) -> None:
        from server.features.feast_reader import FeastFeatureReader

        super().__init__(retries, clock)
        self._store = store
        self._lock = lock
        self._reader = FeastFeatureReader(store, CONVERSATION_SERVICE, clock=clock, lock=lock)
        (view,) = self._reader.spec.views
        self._view = view.name

    def read(self, conversation_ids: Sequence[str]) -> list[ConversationRead]:
        rows = self._reader.read(conversation_ids)
        return [read_of(row, self._view, _version(row, self._view)) for row in rows]

    def write(self, read: ConversationRead, state: ConversationState, now: float) -> bool:
        import pandas as pd

        stamp = datetime.fromtimestamp(now, UTC)
        row = {
            CONVERSATION_KEY: read.conversation_id,
            **to_row(state),
            "event_timestamp": stamp,
            "created_timestamp": stamp,
        }
        frame = pd.DataFrame([row])
        with self._lock:
            (current,) = self._reader.read_unlocked([read.conversation_id])
            if _version(current, self._view) != read.version:
                return False
            self._store.write_to_online_store(self._view, frame)
        return True


def _version(row: CustomerFeatures, view: str) -> Any:
    """The row's event time and values: equal only if no update landed in between."""
    if view not in row.event_times:
        return None
    return (row.event_times[view], *(row.values.get(f) for f in CONVERSATION_FEATURES))
