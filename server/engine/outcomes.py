"""Record outcomes of decisions: validated :class:`Outcome` objects -> outcome-log rows.

Each accepted outcome becomes one ``modelio.logrecords`` ``outcomes`` row, repeats
included; the feedback join (``python -m training feedback``) counts one outcome per
decision_id and reports ids it cannot find as unmatched. The recorder also remembers
the most recent decision ids it recorded (bounded, per process), so it can tell a
caller its outcome is a ``duplicate``; that memory is a hint, not the authority.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from modelio.logrecords import OUTCOMES
from server.engine.types import Outcome, OutcomeReceipt
from server.logs.base import RecordLog, Row

if TYPE_CHECKING:
    from server.engine.conversations import ConversationTracker

#: Decision ids remembered for the duplicate flag (about 10 MB at 100 bytes an id).
DEFAULT_RECENT_IDS = 100_000


def _utc_now() -> datetime:
    return datetime.now(UTC)


class RecentIds:
    """A thread-safe, bounded set of the most recently added ids (oldest evicted first)."""

    def __init__(self, capacity: int = DEFAULT_RECENT_IDS) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()
        self.lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, item: object) -> bool:
        return item in self._ids

    def add(self, item: str) -> bool:
        """Add (or refresh) ``item``; True if it was already there. Hold :attr:`lock`."""
        seen = item in self._ids
        self._ids[item] = None
        self._ids.move_to_end(item)
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return seen


def outcome_row(outcome: Outcome, received_at: datetime, principal: str) -> Row:
    """The ``OUTCOME_SCHEMA`` row of ``outcome``, columns in schema order."""
    return {
        "decision_id": outcome.decision_id,
        "received_at": received_at,
        "event_time": outcome.event_time,
        "resolved": outcome.resolved,
        "escalated": outcome.escalated,
        "csat": outcome.csat,
        "principal": principal,
        "conversation_id": outcome.conversation_id,
    }


class OutcomeRecorder:
    """Submit outcomes to a :class:`~server.logs.base.RecordLog` as ``outcomes`` rows.

    Thread-safe. ``RecordLogFullError`` from the log propagates (the caller gets
    UNAVAILABLE); the outcomes of that call are then not remembered as recorded, so
    a retry is not reported as a duplicate. With ``conversations``, an outcome that
    names a conversation then updates its state (server.engine.conversations); that
    update never fails the call.
    """

    def __init__(
        self,
        log: RecordLog,
        *,
        recent_ids: int = DEFAULT_RECENT_IDS,
        clock: Callable[[], datetime] = _utc_now,
        conversations: ConversationTracker | None = None,
    ) -> None:
        self._log = log
        self._recent = RecentIds(recent_ids)
        self._clock = clock
        self._conversations = conversations

    def record(self, outcomes: Sequence[Outcome], principal: str = "") -> list[OutcomeReceipt]:
        """Submit all ``outcomes`` in one call (all or nothing); one receipt each, in order.

        ``principal`` is the caller's API key id ("" with auth off). Within one call a
        decision id that repeats is a duplicate from its second occurrence on.
        """
        if not outcomes:
            return []
        received_at = self._clock()
        rows = [outcome_row(o, received_at, principal) for o in outcomes]
        # One lock across the check, the submit (which never blocks on I/O) and the
        # update: concurrent repeats get exactly one duplicate=False between them.
        with self._recent.lock:
            seen: set[str] = set()
            duplicate = []
            for o in outcomes:
                duplicate.append(o.decision_id in self._recent or o.decision_id in seen)
                seen.add(o.decision_id)
            self._log.submit(OUTCOMES, rows)
            for o in outcomes:
                self._recent.add(o.decision_id)
        if self._conversations is not None:  # recorded first: the log is the authority
            self._conversations.after_outcomes(outcomes)
        return [
            OutcomeReceipt(o.decision_id, o.request_id, dup)
            for o, dup in zip(outcomes, duplicate, strict=True)
        ]
