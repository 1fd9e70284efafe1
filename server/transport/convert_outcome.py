"""RecordOutcome(Batch) messages <-> engine outcome types, with all their validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from personalization.v1 import personalization_pb2 as pb
from server.engine.types import Outcome, OutcomeReceipt
from server.errors import BatchTooLargeError, InvalidRequestError
from server.transport.fields import (
    MAX_CONVERSATION_ID_LENGTH,
    MAX_REQUEST_ID_LENGTH,
    text,
    timestamp,
)

#: Decision ids are server-generated and short; anything longer is not one of ours.
MAX_DECISION_ID_LENGTH = 128
CSAT_RANGE = range(1, 6)
#: How far ahead of the server's clock an outcome's event_time may be (clock skew).
MAX_CLOCK_SKEW = timedelta(minutes=5)
#: Earliest accepted event_time: older outcomes are not about any logged decision.
MIN_OUTCOME_TIME = datetime(2000, 1, 1, tzinfo=UTC)


def _event_time(msg: pb.RecordOutcomeRequest, now: datetime) -> datetime:
    if not msg.HasField("event_time"):
        raise InvalidRequestError("event_time", "is required")
    value = timestamp("event_time", msg.event_time)
    if value > now + MAX_CLOCK_SKEW:
        raise InvalidRequestError(
            "event_time",
            f"must not be more than {MAX_CLOCK_SKEW.total_seconds():.0f} s in the future",
        )
    if value < MIN_OUTCOME_TIME:
        raise InvalidRequestError("event_time", f"must not be before {MIN_OUTCOME_TIME:%Y-%m-%d}")
    return value


def _csat(msg: pb.RecordOutcomeRequest) -> int | None:
    if not msg.HasField("csat"):
        return None
    if msg.csat not in CSAT_RANGE:
        raise InvalidRequestError("csat", f"must be within [1, 5] when set, got {msg.csat}")
    return msg.csat


def outcome_from_proto(msg: pb.RecordOutcomeRequest, *, now: datetime | None = None) -> Outcome:
    """Validate one outcome; raises ``InvalidRequestError`` naming the bad field.
    ``now`` is the server's clock (the future bound of event_time)."""
    return Outcome(
        decision_id=text("decision_id", msg.decision_id, MAX_DECISION_ID_LENGTH, required=True),
        resolved=msg.resolved,
        escalated=msg.escalated,
        csat=_csat(msg),
        event_time=_event_time(msg, now or datetime.now(UTC)),
        request_id=text("request_id", msg.request_id, MAX_REQUEST_ID_LENGTH, required=False),
        conversation_id=text(
            "conversation_id", msg.conversation_id, MAX_CONVERSATION_ID_LENGTH, required=False
        ),
    )


def outcome_batch_from_proto(
    msg: pb.RecordOutcomeBatchRequest, *, max_batch_size: int
) -> list[Outcome]:
    """Validate a whole batch; errors name the item, e.g. ``outcomes[3].csat``."""
    size = len(msg.outcomes)
    if size > max_batch_size:
        raise BatchTooLargeError(
            "outcomes", f"at most {max_batch_size} outcomes per batch, got {size}"
        )
    now = datetime.now(UTC)
    out = []
    for i, item in enumerate(msg.outcomes):
        try:
            out.append(outcome_from_proto(item, now=now))
        except InvalidRequestError as exc:
            raise InvalidRequestError(f"outcomes[{i}].{exc.field}", exc.reason) from None
    return out


def receipt_to_proto(receipt: OutcomeReceipt) -> pb.RecordOutcomeResponse:
    return pb.RecordOutcomeResponse(
        recorded=True, duplicate=receipt.duplicate, request_id=receipt.request_id
    )
