"""The event schema: strict types, the size limit, future timestamps."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from modelio.events import InvalidEvent, check_time, encode_event, parse_event
from tests.support.events import make_event

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def raw(kind: str = "activity", **changes: object) -> bytes:
    doc = json.loads(encode_event(make_event(kind, "C0000001", occurred_at=NOW)))
    doc.update(changes)
    return json.dumps({k: v for k, v in doc.items() if v is not None}).encode()


@pytest.mark.parametrize("kind", ["activity", "purchase", "csat_survey", "consent_change"])
def test_every_kind_round_trips(kind: str) -> None:
    event = make_event(kind, "C0000001", occurred_at=NOW)
    assert parse_event(encode_event(event), 4096) == event


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"page_views": "3"}, "page_views"),  # no coercion from strings
        ({"new_session": 1}, "new_session"),  # nor from ints to bools
        ({"minutes": -1.0}, "minutes"),
        ({"occurred_at": "2026-01-05T12:00:00"}, "occurred_at"),  # a zone is required
        ({"schema_version": 2}, "schema_version"),
        ({"extra": 1}, "extra"),
        ({"customer_id": ""}, "customer_id"),
        ({"event_id": None}, "event_id"),  # missing
    ],
)
def test_wrong_types_and_values_name_the_field(changes: dict, field: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw(**changes), 4096)
    assert caught.value.reason == "invalid_schema" and field in caught.value.detail


def test_score_out_of_range_and_unknown_kind() -> None:
    for bad in (raw("csat_survey", score=6), raw("activity").replace(b'"activity"', b'"teleport"')):
        with pytest.raises(InvalidEvent) as caught:
            parse_event(bad, 4096)
        assert caught.value.reason == "invalid_schema"


def test_oversized_and_broken_json() -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw(), 64)
    assert caught.value.reason == "oversized"
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw()[:-3], 4096)
    assert caught.value.reason == "invalid_json"


def test_future_timestamps_beyond_the_skew_are_refused() -> None:
    event = make_event("csat_survey", "C0000001", occurred_at=NOW + timedelta(seconds=30))
    check_time(event, NOW.timestamp(), max_skew_s=60)  # within the skew: fine
    with pytest.raises(InvalidEvent) as caught:
        check_time(event, NOW.timestamp(), max_skew_s=10)
    assert caught.value.reason == "future_timestamp"
