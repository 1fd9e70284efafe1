"""Decide(Batch) request messages -> engine types, with all request validation, and the
tolerant parsing that turns bytes that are no message into INVALID_ARGUMENT.

Decisions go back to messages in ``transport.convert_decision``; the enum tables both
use are in ``transport.enum_tables``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from google.protobuf.descriptor import EnumDescriptor

from modelio.context import TurnContext, UnknownTimeZoneError, zone
from personalization.v1 import personalization_pb2 as pb
from server.engine.types import DecisionRequest
from server.errors import BatchTooLargeError, InvalidRequestError
from server.transport.enum_tables import CATEGORY_BY_NUMBER, CHANNEL_BY_NUMBER, DEVICE_BY_NUMBER
from server.transport.fields import (
    MAX_CONVERSATION_ID_LENGTH,
    MAX_REQUEST_ID_LENGTH,
    text,
    timestamp,
)

MAX_TURN_INDEX = 10_000
_MAX_TIME_ZONE_LENGTH = 64
#: Accepted event times: the engine converts them to the turn's local time, which
#: overflows near the ends of what Timestamp allows (years 1 and 9999).
MIN_EVENT_TIME = datetime(1900, 1, 1, tzinfo=UTC)
MAX_EVENT_TIME = datetime(2200, 1, 1, tzinfo=UTC)
_LOCALE = re.compile(r"^[A-Za-z0-9]{1,8}([-_][A-Za-z0-9]{1,8}){0,7}$")


class MalformedRequest:
    """Stands in for a request whose bytes are not a valid message.

    gRPC answers INTERNAL when a request deserializer raises, before any interceptor
    runs; :func:`tolerant_deserializer` returns this instead, and the error interceptor
    turns it into INVALID_ARGUMENT (:meth:`error`). The empty attributes keep layers
    that read a request before that (access log, audit) working.
    """

    __slots__ = ("message_type",)
    customer_id = ""
    decision_id = ""
    request_id = ""
    requests = ()
    outcomes = ()

    def __init__(self, message_type: str) -> None:
        self.message_type = message_type

    def error(self) -> InvalidRequestError:
        return InvalidRequestError("request", f"is not a valid {self.message_type} message")


def tolerant_deserializer(parse: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    """``parse`` (e.g. ``DecideRequest.FromString``) that returns a
    :class:`MalformedRequest` instead of raising on bytes that do not parse."""
    owner = getattr(parse, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    message_type = getattr(descriptor, "full_name", "") or "request"

    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except Exception:  # DecodeError (bad wire format, invalid UTF-8), recursion depth
            return MalformedRequest(message_type)

    return deserialize


def _enum(field: str, value: int, table: dict[int, str], enum: EnumDescriptor) -> str:
    if value == 0:
        raise InvalidRequestError(field, f"is required ({enum.values[0].name} is not allowed)")
    if value not in table:
        raise InvalidRequestError(field, f"unknown {enum.name} value {value}")
    return table[value]


def _sentiment(value: float) -> float:
    if not math.isfinite(value):
        raise InvalidRequestError("context.sentiment", f"must be a finite number, got {value}")
    if not -1.0 <= value <= 1.0:
        raise InvalidRequestError("context.sentiment", f"must be within [-1, 1], got {value}")
    return value


def _event_time(ctx: pb.TurnContext, now: datetime | None) -> datetime:
    if not ctx.HasField("event_time"):
        return now or datetime.now(UTC)
    value = timestamp("context.event_time", ctx.event_time)
    if not MIN_EVENT_TIME <= value < MAX_EVENT_TIME:
        raise InvalidRequestError(
            "context.event_time",
            f"must be between {MIN_EVENT_TIME:%Y-%m-%d} and {MAX_EVENT_TIME:%Y-%m-%d} UTC",
        )
    return value


def _time_zone(value: str) -> str:
    name = value or "UTC"
    if len(name) > _MAX_TIME_ZONE_LENGTH:
        raise InvalidRequestError(
            "context.time_zone", f"must be at most {_MAX_TIME_ZONE_LENGTH} characters"
        )
    try:
        zone(name)
    except (UnknownTimeZoneError, OSError):  # OSError: a tzdata folder, e.g. "Europe"
        raise InvalidRequestError("context.time_zone", f"unknown IANA time zone {name!r}") from None
    return name


def _locale(value: str) -> str:
    if value and not _LOCALE.match(value):
        raise InvalidRequestError("context.locale", "must be a BCP 47 tag like 'en-US'")
    return value


def _turn_index(value: int) -> int:
    if value > MAX_TURN_INDEX:
        raise InvalidRequestError(
            "context.turn_index", f"must be at most {MAX_TURN_INDEX}, got {value}"
        )
    return max(value, 1)


def turn_context_from_proto(ctx: pb.TurnContext, now: datetime | None = None) -> TurnContext:
    """Validate and convert a turn; ``now`` replaces a missing event_time."""
    return TurnContext(
        channel=_enum("context.channel", ctx.channel, CHANNEL_BY_NUMBER, pb.Channel.DESCRIPTOR),
        device=_enum(
            "context.device_type", ctx.device_type, DEVICE_BY_NUMBER, pb.DeviceType.DESCRIPTOR
        ),
        issue_category=_enum(
            "context.issue_category",
            ctx.issue_category,
            CATEGORY_BY_NUMBER,
            pb.IssueCategory.DESCRIPTOR,
        ),
        sentiment=_sentiment(ctx.sentiment),
        event_time=_event_time(ctx, now),
        timezone=_time_zone(ctx.time_zone),
        locale=_locale(ctx.locale),
        turn_index=_turn_index(ctx.turn_index),
    )


def decision_request_from_proto(
    msg: pb.DecideRequest, *, max_customer_id_length: int, now: datetime | None = None
) -> DecisionRequest:
    """Validate a DecideRequest; raises ``InvalidRequestError`` naming the bad field."""
    customer_id = text("customer_id", msg.customer_id, max_customer_id_length, required=True)
    request_id = text("request_id", msg.request_id, MAX_REQUEST_ID_LENGTH, required=False)
    conversation_id = text(
        "conversation_id", msg.conversation_id, MAX_CONVERSATION_ID_LENGTH, required=False
    )
    if not msg.HasField("context"):
        raise InvalidRequestError("context", "is required")
    return DecisionRequest(
        customer_id=customer_id,
        context=turn_context_from_proto(msg.context, now),
        request_id=request_id,
        conversation_id=conversation_id,
    )


def batch_from_proto(
    msg: pb.DecideBatchRequest, *, max_batch_size: int, max_customer_id_length: int
) -> list[DecisionRequest]:
    """Validate a whole batch; errors name the item, e.g. ``requests[3].customer_id``."""
    size = len(msg.requests)
    if size > max_batch_size:
        raise BatchTooLargeError(
            "requests", f"at most {max_batch_size} requests per batch, got {size}"
        )
    now = datetime.now(UTC)  # one clock reading: unset event_times agree within a batch
    out = []
    for i, item in enumerate(msg.requests):
        try:
            out.append(
                decision_request_from_proto(
                    item, max_customer_id_length=max_customer_id_length, now=now
                )
            )
        except InvalidRequestError as exc:
            raise InvalidRequestError(f"requests[{i}].{exc.field}", exc.reason) from None
    return out
