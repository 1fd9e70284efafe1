"""Field checks shared by the request converters (decisions and outcomes).

Each raises :class:`~server.errors.InvalidRequestError` naming the field it was given.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from server.errors import InvalidRequestError

MAX_REQUEST_ID_LENGTH = 128
#: The bot backend's conversation ids (DecideRequest and RecordOutcomeRequest alike).
MAX_CONVERSATION_ID_LENGTH = 128
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def text(field: str, value: str, max_length: int, *, required: bool) -> str:
    """``value`` if it is short enough, free of control characters and, if
    ``required``, not empty."""
    if required and not value:
        raise InvalidRequestError(field, "must not be empty")
    if len(value) > max_length:
        raise InvalidRequestError(
            field, f"must be at most {max_length} characters, got {len(value)}"
        )
    if _CONTROL.search(value):
        raise InvalidRequestError(field, "must not contain control characters")
    return value


def timestamp(field: str, value: Timestamp) -> datetime:
    """``value`` as an aware UTC datetime; raises if it is not a valid timestamp."""
    try:
        return value.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        raise InvalidRequestError(field, "is not a valid timestamp") from None
