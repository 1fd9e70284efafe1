"""Fuzzing a REAL server (real DecisionEngine on the SQLite test repo and the test models,
real channel on loopback): more than 10,000 generated requests.

Whatever arrives, the server never answers INTERNAL (or anything but OK, INVALID_ARGUMENT
and RESOURCE_EXHAUSTED): rejections carry details naming the field and the reason, and
OK answers are well formed. Generation is derandomized, so runs are reproducible.

* messages: hypothesis builds DecideRequests from hostile parts (unicode, control
  characters, very long strings, enum numbers out of range, NaN/inf/huge sentiment,
  huge turn_index, odd time zones, Timestamps far outside the representable range,
  batches empty or over the limit) and sends each one through Decide and all of them
  in one DecideBatch;
* outcomes: hypothesis builds RecordOutcomeRequests the same way (hostile decision
  ids, csat out of range, any Timestamp) for RecordOutcome and RecordOutcomeBatch;
* bytes: payloads that are not, or are damaged, protobuf (random bytes, bit flips and
  truncations of valid requests) sent with identity serializers to every RPC.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from personalization.v1 import personalization_pb2 as pb
from personalization.v1 import personalization_pb2_grpc as pb_grpc
from server.app import create_server
from server.transport.convert import MAX_REQUEST_ID_LENGTH
from tests.support.feast import FeastFixture
from tests.support.servers import make_request, test_settings

MAX_BATCH = 16
#: Oversized messages are refused by gRPC core (RESOURCE_EXHAUSTED), which costs it
#: ~0.2 s each; generated requests stay below this, test_batch_limits sends a few.
MAX_MESSAGE_BYTES = 1024 * 1024
MODEL_VERSION = "test-v1"
DECIDE = "/personalization.v1.PersonalizationService/Decide"
DECIDE_BATCH = "/personalization.v1.PersonalizationService/DecideBatch"
RECORD_OUTCOME = "/personalization.v1.PersonalizationService/RecordOutcome"
RECORD_OUTCOME_BATCH = "/personalization.v1.PersonalizationService/RecordOutcomeBatch"
ALLOWED = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED}
# "field: reason" -- the field a path like requests[3].context.sentiment,
# outcomes[2].csat, or "request".
_FIELD_DETAILS = re.compile(r"^((requests|outcomes)(\[\d+\])?\.)?[a-z_]+(\.[a-z_]+)?: \S.*", re.S)
_ACTIONS = {v.number for v in pb.Action.DESCRIPTOR.values if v.number}
_BANDS = {v.number for v in pb.EscalationBand.DESCRIPTOR.values if v.number}


@dataclass
class Target:
    channel: grpc.Channel
    stub: pb_grpc.PersonalizationServiceStub
    raw_decide: Any
    raw_batch: Any
    raw_outcome: Any
    raw_outcome_batch: Any
    known_ids: tuple[str, ...]
    sent: dict[str, int] = field(default_factory=lambda: {"messages": 0, "bytes": 0})


@pytest.fixture(scope="module")
def target(engine_feast_repo: FeastFixture, model_dir: Path) -> Iterator[Target]:
    settings = test_settings(
        feature_repo=engine_feast_repo.repo,
        models_dir=model_dir,
        max_batch_size=MAX_BATCH,
        max_message_bytes=MAX_MESSAGE_BYTES,
        feature_budget_ms=5000.0,  # a slow CI box must not turn answers degraded
        thread_pool_size=8,
        log_level="ERROR",
    )
    server, port = create_server(settings)  # no engine given: the real one is built
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=10)
        yield Target(
            channel,
            pb_grpc.PersonalizationServiceStub(channel),
            channel.unary_unary(DECIDE),  # no serializers: bytes in, bytes out
            channel.unary_unary(DECIDE_BATCH),
            channel.unary_unary(RECORD_OUTCOME),
            channel.unary_unary(RECORD_OUTCOME_BATCH),
            engine_feast_repo.known_ids,
        )
    finally:
        channel.close()
        server.stop(None).wait(10)


# --- checks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Described:
    """An RPC and its request, printed (shortened) only when a check fails."""

    rpc: str
    request: Any

    def __str__(self) -> str:
        return f"{self.rpc} {self.request!r:.500}"


def check_rejection(error: grpc.RpcError, what: Any) -> None:
    """``what`` describes the request in failure messages (formatted only then)."""
    code, details = error.code(), error.details() or ""
    assert code in ALLOWED, f"{what}: {code} {details!r}"
    assert details.strip(), f"{what}: {code} without details"
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        assert _FIELD_DETAILS.match(details), f"{what}: details name no field: {details!r}"


def check_decision(d: pb.DecideResponse, request_id: str | None) -> None:
    assert d.decision_id and d.model_version == MODEL_VERSION
    if request_id is not None:
        assert d.request_id == request_id
    risk = d.escalation_risk
    assert 0.0 <= risk.probability <= 1.0 and risk.band in _BANDS
    nba = d.next_best_action
    assert nba.action in _ACTIONS
    assert 0.0 <= nba.predicted_success <= 1.0 and 0.0 < nba.propensity <= 1.0
    alternatives = [a.action for a in nba.alternatives]
    assert set(alternatives) <= _ACTIONS and nba.action not in alternatives
    assert len(set(alternatives)) == len(alternatives)
    assert all(0.0 <= a.predicted_success <= 1.0 for a in nba.alternatives)
    assert d.personalized == (d.not_personalized_reason == "")
    assert d.degraded == bool(d.degraded_reasons)
    assert d.feature_age.seconds >= 0


def check_receipt(r: pb.RecordOutcomeResponse, request_id: str | None) -> None:
    assert r.recorded
    if request_id is not None:
        assert r.request_id == request_id


def resolve(future: Future, what: Any) -> Any | None:
    try:
        return future.result()
    except grpc.RpcError as error:
        check_rejection(error, what)
        return None


# --- strategies -----------------------------------------------------------------------

# Every code point except surrogates (a str holding one cannot be sent), so control
# characters, NUL, RTL marks and astral planes all appear.
ANY_CHAR = st.characters(exclude_categories=["Cs"])
HOSTILE = st.sampled_from(["\x00", "\n", "\x7f", "\u0085", "\u202e", "\ufeff", "😀", "ß", "İ"])
ZONES = st.sampled_from([
    "", "UTC", "Europe/Paris", "America/St_Johns", "Asia/Kathmandu", "Pacific/Kiritimati",
    "Etc/GMT+12", "Etc/GMT-14", "posixrules", "right/UTC", "Europe", "zone.tab", "SECURITY",
    "Mars/Olympus", "../etc/passwd", "/etc/localtime", "Europe/Paris\x00", " UTC", "utc",
    "a" * 64, "a" * 65, "EST5EDT", "Local", ".", "..",
])  # fmt: skip
LOCALES = st.sampled_from(["", "en", "en-US", "es_MX", "zh-Hant-TW", "x" * 9, "en--US", "é"])


def repeated(lengths: st.SearchStrategy[int]) -> st.SearchStrategy[str]:
    """A short random string repeated to an exact length: long inputs, cheap to draw."""
    return st.builds(
        lambda unit, n: (unit * n)[:n], st.text(ANY_CHAR, min_size=1, max_size=3), lengths
    )


def texts(max_len: int) -> st.SearchStrategy[str]:
    """Short hostile text, text around ``max_len`` characters, and very long text."""
    return st.one_of(
        st.text(ANY_CHAR, max_size=10),
        repeated(st.integers(max_len - 1, max_len + 1)),
        st.builds(lambda a, h, b: a + h + b, st.text(max_size=4), HOSTILE, st.text(max_size=4)),
        repeated(st.integers(1000, 3000)),
    )


def enum_numbers(enum: Any) -> st.SearchStrategy[int]:
    valid = [v.number for v in enum.DESCRIPTOR.values]
    return st.one_of(st.sampled_from(valid), st.integers(-(2**31), 2**31 - 1))


SENTIMENTS = st.one_of(
    st.floats(-1.0, 1.0),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 1.0000001, -0.0]),
)
TIMESTAMPS = st.one_of(
    st.none(),
    st.builds(  # anywhere in what Timestamp allows (0001..9999), and around its edges
        Timestamp,
        seconds=st.integers(-62_135_596_800 - 10, 253_402_300_799 + 10),
        nanos=st.integers(0, 999_999_999),
    ),
    st.builds(  # far outside: int64 seconds, negative or huge nanos
        Timestamp,
        seconds=st.integers(-(2**63), 2**63 - 1),
        nanos=st.integers(-(2**31), 2**31 - 1),
    ),
    st.builds(Timestamp, seconds=st.integers(1_500_000_000, 2_000_000_000)),
)
# Built once: constructing strategies inside a draw would dominate the run time.
CHANNELS = enum_numbers(pb.Channel)
DEVICES = enum_numbers(pb.DeviceType)
CATEGORIES = enum_numbers(pb.IssueCategory)
TIME_ZONES = st.one_of(ZONES, texts(64))
LOCALE_TEXT = st.one_of(LOCALES, texts(35))
TURN_INDEXES = st.one_of(st.integers(0, 10_001), st.integers(0, 2**32 - 1))
REQUEST_IDS = st.one_of(st.just(""), texts(MAX_REQUEST_ID_LENGTH))
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


CSATS = st.one_of(st.none(), st.integers(0, 6), st.integers(-(2**31), 2**31 - 1))


@st.composite
def outcomes(draw: st.DrawFn) -> pb.RecordOutcomeRequest:
    """About a third valid outcomes (of made-up decisions), the rest hostile."""
    if draw(st.integers(0, 2)) == 0:
        msg = pb.RecordOutcomeRequest(
            decision_id=f"d-{draw(st.integers(0, 50))}",
            resolved=draw(st.booleans()),
            escalated=draw(st.booleans()),
            request_id=draw(st.sampled_from(["", "r-1"])),
        )
        msg.event_time.FromSeconds(draw(st.integers(1_500_000_000, 1_700_000_000)))
        if draw(st.booleans()):
            msg.csat = draw(st.integers(1, 5))
        return msg
    msg = pb.RecordOutcomeRequest(
        decision_id=draw(st.one_of(st.just(""), texts(128))),
        resolved=draw(st.booleans()),
        escalated=draw(st.booleans()),
        request_id=draw(REQUEST_IDS),
    )
    csat = draw(CSATS)
    if csat is not None:
        msg.csat = csat
    stamp = draw(TIMESTAMPS)
    if stamp is not None:
        msg.event_time.CopyFrom(stamp)
    return msg


# --- phase 1: generated messages ------------------------------------------------------


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


def test_generated_outcomes_never_fail_internally(target: Target) -> None:
    @settings(
        max_examples=300,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(items=st.lists(outcomes(), min_size=1, max_size=MAX_BATCH + 2))
    def fuzz(items: list[pb.RecordOutcomeRequest]) -> None:
        futures = [target.stub.RecordOutcome.future(o, timeout=30) for o in items]
        batch = pb.RecordOutcomeBatchRequest(outcomes=items)
        batch_future = target.stub.RecordOutcomeBatch.future(batch, timeout=30)
        for o, f in zip(items, futures, strict=True):
            reply = resolve(f, Described("RecordOutcome", o))
            if reply is not None:
                check_receipt(reply, o.request_id)
        reply = resolve(batch_future, Described("RecordOutcomeBatch", batch))
        if reply is not None:
            assert len(reply.responses) == len(items)
            for o, r in zip(items, reply.responses, strict=True):
                check_receipt(r, o.request_id)
        target.sent["messages"] += len(items) + 1

    fuzz()


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


# --- phase 2: bytes that are not (quite) protobuf -------------------------------------


def _check_decide_bytes(reply: bytes) -> None:
    check_decision(pb.DecideResponse.FromString(reply), None)


def _check_decide_batch_bytes(reply: bytes) -> None:
    for d in pb.DecideBatchResponse.FromString(reply).responses:
        check_decision(d, None)


def _check_outcome_bytes(reply: bytes) -> None:
    check_receipt(pb.RecordOutcomeResponse.FromString(reply), None)


def _check_outcome_batch_bytes(reply: bytes) -> None:
    for r in pb.RecordOutcomeBatchResponse.FromString(reply).responses:
        check_receipt(r, None)


def send_bytes(target: Target, payloads: list[bytes]) -> None:
    """Each payload to every RPC; an OK answer must be a well-formed response."""
    calls = (
        ("Decide", target.raw_decide, _check_decide_bytes),
        ("DecideBatch", target.raw_batch, _check_decide_batch_bytes),
        ("RecordOutcome", target.raw_outcome, _check_outcome_bytes),
        ("RecordOutcomeBatch", target.raw_outcome_batch, _check_outcome_batch_bytes),
    )
    futures = [
        (p, name, check, call.future(p, timeout=30))
        for p in payloads
        for name, call, check in calls
    ]
    for payload, name, check, future in futures:
        reply = resolve(future, Described(name, payload))
        if reply is not None:
            check(reply)
    target.sent["bytes"] += len(futures)


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(4)
        if op == 0 and buf:  # flip a bit
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:  # truncate
            del buf[rng.randrange(len(buf)) :]
        elif op == 2:  # insert random bytes
            pos = rng.randrange(len(buf) + 1)
            buf[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif buf:  # overwrite a byte with a wire-type-ish value
            buf[rng.randrange(len(buf))] = rng.choice([0x00, 0x07, 0x0F, 0x80, 0xFF, 0x12, 0x1A])
    return bytes(buf)


def test_random_and_damaged_bytes_never_fail_internally(target: Target) -> None:
    seeds = [make_request(cid).SerializeToString() for cid in target.known_ids[:20]] + [
        pb.DecideBatchRequest(requests=[make_request(c)]).SerializeToString() for c in "AB"
    ]
    outcome = pb.RecordOutcomeRequest(decision_id="d-1", resolved=True, csat=3, request_id="r")
    outcome.event_time.FromSeconds(1_700_000_000)
    seeds += [
        outcome.SerializeToString(),
        pb.RecordOutcomeBatchRequest(outcomes=[outcome, outcome]).SerializeToString(),
    ]

    @settings(
        max_examples=600,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        payload=st.one_of(
            st.binary(max_size=64),
            st.builds(
                lambda i, r: mutate(random.Random(r), seeds[i]),
                st.integers(0, len(seeds) - 1),
                st.integers(0, 2**32),
            ),
        )
    )
    @example(payload=b"\xff\xff")  # regression: an unparseable request was INTERNAL
    @example(payload=b"\n\x02\xff\xfe")  # invalid UTF-8 in customer_id
    @example(payload=b"\x12\x05\x08\xff\xff\xff\xff")  # truncated context
    def fuzz(payload: bytes) -> None:
        send_bytes(target, [payload])

    fuzz()
    # Bulk: thousands more, 32 in flight at a time, from a fixed seed.
    rng = random.Random(20240506)
    for _ in range(200):
        chunk = []
        for _ in range(16):
            if rng.random() < 0.5:
                chunk.append(rng.randbytes(rng.randint(0, 200)))
            else:
                chunk.append(mutate(rng, rng.choice(seeds)))
        send_bytes(target, chunk)
    # 2,400 hypothesis-driven + 12,800 bulk (each payload to all four RPCs).
    assert target.sent["bytes"] >= 15200
