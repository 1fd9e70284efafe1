"""Fuzzing Decide and DecideBatch on a REAL server (real DecisionEngine on the SQLite test
repo and the test models, real channel on loopback; this folder's ``target``).

Hypothesis builds DecideRequests from hostile parts (unicode, control characters, very
long strings, enum numbers out of range, NaN/inf/huge sentiment, huge turn_index, odd
time zones, Timestamps far outside the representable range, batches empty or over the
limit) and sends each one through Decide and all of them in one DecideBatch; the bugs it
found stay as regressions. Generation is derandomized, so runs are reproducible."""

from __future__ import annotations

import math
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from personalization.v1 import personalization_pb2 as pb
from tests.support.fuzz import (
    MAX_BATCH,
    MAX_MESSAGE_BYTES,
    REQUEST_IDS,
    TIMESTAMPS,
    Described,
    Target,
    check_decision,
    check_rejection,
    resolve,
    texts,
)
from tests.support.servers import make_request

ZONES = st.sampled_from([
    "", "UTC", "Europe/Paris", "America/St_Johns", "Asia/Kathmandu", "Pacific/Kiritimati",
    "Etc/GMT+12", "Etc/GMT-14", "posixrules", "right/UTC", "Europe", "zone.tab", "SECURITY",
    "Mars/Olympus", "../etc/passwd", "/etc/localtime", "Europe/Paris\x00", " UTC", "utc",
    "a" * 64, "a" * 65, "EST5EDT", "Local", ".", "..",
])  # fmt: skip


LOCALES = st.sampled_from(["", "en", "en-US", "es_MX", "zh-Hant-TW", "x" * 9, "en--US", "é"])


def enum_numbers(enum: Any) -> st.SearchStrategy[int]:
    valid = [v.number for v in enum.DESCRIPTOR.values]
    return st.one_of(st.sampled_from(valid), st.integers(-(2**31), 2**31 - 1))


SENTIMENTS = st.one_of(
    st.floats(-1.0, 1.0),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 1.0000001, -0.0]),
)


# Built once: constructing strategies inside a draw would dominate the run time.
CHANNELS = enum_numbers(pb.Channel)


DEVICES = enum_numbers(pb.DeviceType)


CATEGORIES = enum_numbers(pb.IssueCategory)


TIME_ZONES = st.one_of(ZONES, texts(64))


LOCALE_TEXT = st.one_of(LOCALES, texts(35))


TURN_INDEXES = st.one_of(st.integers(0, 10_001), st.integers(0, 2**32 - 1))


ODD_IDS = st.one_of(st.sampled_from(["nobody", "anon-1"]), texts(128))


VALID_ZONES = st.sampled_from(["UTC", "Asia/Kathmandu", "Etc/GMT-14", ""])


def requests(known: tuple[str, ...]) -> st.SearchStrategy[pb.DecideRequest]:
    """About a quarter valid requests of known customers, the rest hostile."""
    known_ids = st.sampled_from(known)
    customer_ids = st.one_of(known_ids, ODD_IDS)

    @st.composite
    def build(draw: st.DrawFn) -> pb.DecideRequest:
        if draw(st.integers(0, 3)) == 0:
            return make_request(
                draw(known_ids),
                sentiment=draw(st.floats(-1.0, 1.0)),
                turn_index=draw(st.integers(0, 10_000)),
                time_zone=draw(VALID_ZONES),
            )
        fields: dict[str, Any] = {  # enum fields take any int32 (proto3 enums are open)
            "channel": draw(CHANNELS),
            "device_type": draw(DEVICES),
            "issue_category": draw(CATEGORIES),
            "sentiment": draw(SENTIMENTS),
            "time_zone": draw(TIME_ZONES),
            "locale": draw(LOCALE_TEXT),
            "turn_index": draw(TURN_INDEXES),
        }
        context = pb.TurnContext(**fields)
        stamp = draw(TIMESTAMPS)
        if stamp is not None:
            context.event_time.CopyFrom(stamp)
        msg = pb.DecideRequest(customer_id=draw(customer_ids), request_id=draw(REQUEST_IDS))
        if draw(st.integers(0, 9)):  # 1 in 10 has no context at all
            msg.context.CopyFrom(context)
        return msg

    return build()


def send_messages(target: Target, reqs: list[pb.DecideRequest], batch_extra: int) -> None:
    futures = [target.stub.Decide.future(r, timeout=30) for r in reqs]
    batch = pb.DecideBatchRequest(requests=reqs + [reqs[-1]] * batch_extra)
    batch_future = target.stub.DecideBatch.future(batch, timeout=30)
    for r, f in zip(reqs, futures, strict=True):
        reply = resolve(f, Described("Decide", r))
        if reply is not None:
            check_decision(reply, r.request_id)
    reply = resolve(batch_future, Described("DecideBatch", batch))
    if reply is not None:
        assert len(reply.responses) == len(batch.requests)
        for r, d in zip(batch.requests, reply.responses, strict=True):
            check_decision(d, r.request_id)
    target.sent["messages"] += len(reqs) + 1


def test_generated_messages_never_fail_internally(target: Target) -> None:
    @settings(
        max_examples=700,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        reqs=st.lists(requests(target.known_ids), min_size=4, max_size=12),
        batch_extra=st.one_of(st.just(0), st.just(0), st.integers(0, MAX_BATCH)),
    )
    @example(  # regression: a time zone naming a tzdata folder raised IsADirectoryError
        reqs=[make_request(target.known_ids[0], time_zone="Europe")], batch_extra=0
    )
    @example(  # regression: year 9999 shifted east of UTC overflowed the datetime range
        reqs=[
            make_request(
                target.known_ids[0],
                event_time=Timestamp(seconds=253_402_300_799),
                time_zone="Pacific/Kiritimati",
            ),
            make_request(
                target.known_ids[1],
                event_time=Timestamp(seconds=-62_135_596_800),
                time_zone="America/New_York",
            ),
        ],
        batch_extra=0,
    )
    def fuzz(reqs: list[pb.DecideRequest], batch_extra: int) -> None:
        send_messages(target, reqs, batch_extra)

    fuzz()
    assert target.sent["messages"] >= 3500  # 700 examples of at least 4 Decides + a batch


def test_batch_limits(target: Target) -> None:
    req = make_request(target.known_ids[2])
    empty = target.stub.DecideBatch(pb.DecideBatchRequest(), timeout=10)
    assert list(empty.responses) == []
    full = target.stub.DecideBatch(pb.DecideBatchRequest(requests=[req] * MAX_BATCH), timeout=30)
    assert len(full.responses) == MAX_BATCH
    with pytest.raises(grpc.RpcError) as over:
        target.stub.DecideBatch(pb.DecideBatchRequest(requests=[req] * (MAX_BATCH + 1)))
    assert over.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert over.value.details() == f"requests: at most {MAX_BATCH} requests per batch, got 17"
    with pytest.raises(grpc.RpcError) as huge:  # beyond max_message_bytes: refused by core
        target.stub.DecideBatch(pb.DecideBatchRequest(requests=[req] * 20_000), timeout=30)
    check_rejection(huge.value, "huge batch")
    assert huge.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(grpc.RpcError) as long_id:
        target.stub.Decide(make_request("x" * (MAX_MESSAGE_BYTES + 1)), timeout=10)
    assert long_id.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    target.sent["messages"] += 5


def test_found_bugs_are_invalid_argument_with_reasons(target: Target) -> None:
    """The INTERNAL errors this fuzzer found, now rejected with a field and a reason."""
    cid = target.known_ids[3]
    cases = [
        (make_request(cid, time_zone="Europe"), "context.time_zone: unknown IANA time zone"),
        (
            make_request(cid, event_time=Timestamp(seconds=253_402_300_799)),
            "context.event_time: must be between 1900-01-01 and 2200-01-01 UTC",
        ),
        (
            make_request(cid, event_time=Timestamp(seconds=-62_135_596_800)),
            "context.event_time: must be between",
        ),
    ]
    for request, details in cases:
        with pytest.raises(grpc.RpcError) as error:
            target.stub.Decide(request, timeout=10)
        assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert (error.value.details() or "").startswith(details)
    for call, name in (
        (target.raw_decide, "DecideRequest"),
        (target.raw_batch, "DecideBatchRequest"),
        (target.raw_outcome, "RecordOutcomeRequest"),
        (target.raw_outcome_batch, "RecordOutcomeBatchRequest"),
    ):
        with pytest.raises(grpc.RpcError) as error:
            call(b"\xff\xff", timeout=10)
        assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert error.value.details() == f"request: is not a valid personalization.v1.{name} message"
    target.sent["messages"] += len(cases) + 4
