"""Behavioural events, schema version 1: what a publisher puts on the events stream and
what the consumer (``python -m server.events``) accepts.

One stream entry carries one event as JSON in its ``event`` field (see
:func:`encode_event`). Every event has an ``event_id`` (the idempotency key: the same id
is applied once, however often it is delivered), a ``customer_id``, the time it
happened (``occurred_at``, ISO 8601 with a zone) and a ``kind``:

==================  ===============================================  ===================
kind                payload                                          updates
==================  ===============================================  ===================
``activity``        ``source`` app|web, ``new_session`` bool,        engagement_fv sums
                    ``page_views`` int, ``minutes`` float
``purchase``        ``amount`` float > 0, ``new_product`` bool       customer_profile_fv
``csat_survey``     ``score`` int 1..5                               support_history_fv
``consent_change``  ``personalization_consent`` bool                 customer_profile_fv
==================  ===============================================  ===================

Types are strict (``"3"`` is not an int, ``1`` is not a bool) and unknown fields are
refused, so a publisher's bug is a dead-lettered event with the field named, not a
silently coerced value. Shared by publishers, tests and the consumer; it imports
nothing of ours.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

SCHEMA_VERSION = 1
#: Stream entry field holding the JSON event.
EVENT_FIELD = b"event"
#: Reasons an event is dead-lettered (the ``reason`` field of a dead-letter entry).
REASONS = (
    "oversized",
    "invalid_json",
    "invalid_schema",
    "unknown_customer",
    "future_timestamp",
    "apply_failed",
)

Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]


class _Event(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    schema_version: Literal[1] = Field(description="Version of this schema.")
    event_id: Id = Field(description="Unique per event; retries reuse it (idempotency key).")
    customer_id: Id = Field(description="The CRM's customer id; must be a known customer.")
    occurred_at: AwareDatetime = Field(
        description="When it happened; no later than the consumer's clock plus its skew."
    )

    def timestamp(self) -> float:
        """``occurred_at`` as Unix seconds."""
        return self.occurred_at.timestamp()


class ActivityEvent(_Event):
    """App or web activity: adds to the 28-day engagement sums."""

    kind: Literal["activity"]
    source: Literal["app", "web"]
    new_session: bool = Field(description="True when this activity starts a session.")
    page_views: int = Field(ge=0, le=10_000)
    minutes: float = Field(ge=0, le=1_440)


class PurchaseEvent(_Event):
    """A purchase: adds to lifetime value, and to the product count when it is a new one."""

    kind: Literal["purchase"]
    amount: float = Field(gt=0, le=1_000_000)
    new_product: bool


class CsatSurveyEvent(_Event):
    """A CSAT survey answer: becomes the customer's last CSAT."""

    kind: Literal["csat_survey"]
    score: int = Field(ge=1, le=5)


class ConsentChangeEvent(_Event):
    """Personalization consent given (true) or withdrawn (false)."""

    kind: Literal["consent_change"]
    personalization_consent: bool


Event = Annotated[
    ActivityEvent | PurchaseEvent | CsatSurveyEvent | ConsentChangeEvent,
    Field(discriminator="kind"),
]
_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


class InvalidEvent(ValueError):
    """An entry that is not a valid event; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _first_error(exc: ValidationError) -> str:
    err = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in err["loc"]) or "event"
    return f"{where}: {err['msg']} ({exc.error_count()} error(s))"


def parse_event(raw: bytes, max_bytes: int) -> Event:
    """The event in ``raw`` (one stream entry's JSON). Raises :class:`InvalidEvent`."""
    if len(raw) > max_bytes:
        raise InvalidEvent("oversized", f"{len(raw)} bytes > {max_bytes}")
    try:
        return _ADAPTER.validate_json(raw)
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            raise InvalidEvent("invalid_json", _first_error(exc)) from None
        raise InvalidEvent("invalid_schema", _first_error(exc)) from None


def check_time(event: Event, now: float, max_skew_s: float) -> None:
    """Refuse an event from the future (beyond ``max_skew_s`` of clock skew)."""
    ahead = event.timestamp() - now
    if ahead > max_skew_s:
        raise InvalidEvent("future_timestamp", f"occurred_at is {ahead:.1f} s ahead of now")


def encode_event(event: Event) -> bytes:
    """The JSON a publisher puts in the entry's ``event`` field."""
    return event.model_dump_json().encode("utf-8")
