"""Unit tests of proto <-> domain conversion and validation (no server)."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta

import pytest

from modelio.vocab import ACTIONS, CHANNELS, DEVICES, FORMALITIES, ISSUE_CATEGORIES
from personalization.v1 import personalization_pb2 as pb
from server.errors import BatchTooLargeError, InvalidRequestError
from server.transport.convert import (
    batch_from_proto,
    decision_request_from_proto,
)
from server.transport.convert_decision import decision_to_proto
from tests.support.servers import EVENT_TIME, fake_decision, make_request


def _convert(msg: pb.DecideRequest, max_len: int = 128):
    return decision_request_from_proto(msg, max_customer_id_length=max_len)


@pytest.mark.parametrize(
    ("enum", "prefix", "vocab"),
    [
        (pb.Channel, "CHANNEL_", CHANNELS),
        (pb.DeviceType, "DEVICE_TYPE_", DEVICES),
        (pb.IssueCategory, "ISSUE_CATEGORY_", ISSUE_CATEGORIES),
        (pb.Action, "ACTION_", ACTIONS),
        (pb.Formality, "FORMALITY_", FORMALITIES),
    ],
)
def test_proto_enums_mirror_vocab_in_order(enum, prefix, vocab) -> None:
    names = [enum.Name(n) for n in sorted(enum.values()) if n != 0]
    assert names == [prefix + v.upper() for v in vocab]
    assert enum.Name(0) == prefix + "UNSPECIFIED"


def test_request_fields_convert() -> None:
    req = _convert(make_request())
    assert req.customer_id == "C000123" and req.request_id == "req-1"
    ctx = req.context
    assert (ctx.channel, ctx.device, ctx.issue_category) == ("mobile_app", "tablet", "shipping")
    assert ctx.sentiment == pytest.approx(-0.4)
    assert ctx.event_time == EVENT_TIME
    assert (ctx.timezone, ctx.locale, ctx.turn_index) == ("Europe/Paris", "fr-FR", 3)


def test_defaults_for_unset_fields() -> None:
    msg = make_request(time_zone="", locale="", turn_index=0)
    msg.context.ClearField("event_time")
    before = datetime.now(UTC)
    ctx = _convert(msg).context
    assert before <= ctx.event_time <= datetime.now(UTC)
    assert (ctx.timezone, ctx.locale, ctx.turn_index) == ("UTC", "", 1)


@pytest.mark.parametrize(
    ("msg", "field", "reason"),
    [
        (make_request(""), "customer_id", "must not be empty"),
        (make_request("x" * 129), "customer_id", "must be at most 128 characters, got 129"),
        (make_request("ab\ncd"), "customer_id", "must not contain control characters"),
        (pb.DecideRequest(customer_id="c"), "context", "is required"),
        (make_request(channel=0), "context.channel", "is required (CHANNEL_UNSPECIFIED"),
        (make_request(channel=99), "context.channel", "unknown Channel value 99"),
        (make_request(device_type=7), "context.device_type", "unknown DeviceType value 7"),
        (make_request(issue_category=0), "context.issue_category", "is required"),
        (make_request(sentiment=1.5), "context.sentiment", "must be within [-1, 1], got 1.5"),
        (make_request(sentiment=-1.01), "context.sentiment", "must be within [-1, 1]"),
        (make_request(sentiment=math.nan), "context.sentiment", "must be a finite number, got nan"),
        (make_request(sentiment=math.inf), "context.sentiment", "must be a finite number, got inf"),
        (make_request(time_zone="Mars/Olympus"), "context.time_zone", "unknown IANA time zone"),
        (make_request(time_zone="../etc/passwd"), "context.time_zone", "unknown IANA time zone"),
        (make_request(time_zone="A" * 65), "context.time_zone", "must be at most 64"),
        (make_request(locale="en US"), "context.locale", "must be a BCP 47"),
        (make_request(turn_index=10_001), "context.turn_index", "must be at most 10000"),
    ],
)
def test_invalid_requests_name_field_and_reason(msg, field, reason) -> None:
    with pytest.raises(InvalidRequestError) as info:
        _convert(msg)
    assert info.value.field == field
    assert info.value.reason.startswith(reason)


def test_request_id_is_validated_because_it_is_logged() -> None:
    msg = make_request()
    msg.request_id = "evil\r\nfake log line"
    with pytest.raises(InvalidRequestError, match="request_id"):
        _convert(msg)


def test_out_of_range_timestamp_is_invalid() -> None:
    msg = make_request()
    msg.context.event_time.seconds = 10**12
    with pytest.raises(InvalidRequestError, match=r"context\.event_time"):
        _convert(msg)


def test_batch_too_large_and_item_errors() -> None:
    batch = pb.DecideBatchRequest(requests=[make_request() for _ in range(4)])
    with pytest.raises(BatchTooLargeError) as info:
        batch_from_proto(batch, max_batch_size=3, max_customer_id_length=128)
    assert str(info.value) == "requests: at most 3 requests per batch, got 4"

    batch.requests[2].context.sentiment = 3.0
    with pytest.raises(InvalidRequestError) as item:
        batch_from_proto(batch, max_batch_size=10, max_customer_id_length=128)
    assert str(item.value) == "requests[2].context.sentiment: must be within [-1, 1], got 3.0"


def test_decision_to_proto_converts_every_field() -> None:
    decision = fake_decision(_convert(make_request("C0001")))
    r = decision_to_proto(decision)
    assert (r.decision_id, r.request_id, r.model_version) == ("d-C0001-3", "req-1", "fake-1")
    assert (r.segment.id, r.segment.name) == (decision.segment.id, decision.segment.name)
    assert r.escalation_risk.probability == pytest.approx(0.3)
    assert r.escalation_risk.band == pb.ESCALATION_BAND_LOW
    nba = r.next_best_action
    assert pb.Action.Name(nba.action) == "ACTION_" + decision.next_best_action.action.upper()
    assert (nba.predicted_success, nba.propensity) == (0.75, 0.9)
    assert list(nba.reason_codes) == ["mobile_app", "tablet", "shipping"]
    assert [(pb.Action.Name(a.action), a.predicted_success) for a in nba.alternatives] == [
        ("ACTION_" + a.action.upper(), a.predicted_success)
        for a in decision.next_best_action.alternatives
    ]
    assert pb.Formality.Name(r.style.formality) == "FORMALITY_" + decision.style.formality.upper()
    assert r.style.language == "fr"
    assert r.personalized and r.not_personalized_reason == ""
    assert r.degraded and list(r.degraded_reasons) == list(decision.degraded_reasons)
    assert r.feature_age.ToTimedelta() == timedelta(seconds=12.5)


def test_decision_optional_parts() -> None:
    base = fake_decision(_convert(make_request()))
    bare = dataclasses.replace(
        base,
        degraded_reasons=(),
        feature_age_seconds=-1.0,
        style=dataclasses.replace(base.style, formality=""),
    )
    r = decision_to_proto(bare)
    assert not r.degraded and not r.HasField("feature_age")
    assert r.style.formality == pb.FORMALITY_UNSPECIFIED


def test_unknown_engine_action_is_a_server_bug() -> None:
    base = fake_decision(_convert(make_request()))
    bad = dataclasses.replace(
        base, next_best_action=dataclasses.replace(base.next_best_action, action="teleport")
    )
    with pytest.raises(ValueError, match="teleport"):
        decision_to_proto(bad)
