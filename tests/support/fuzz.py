"""Fuzzing a real server: what a fuzzed RPC may answer (checks of rejections, decisions and
receipts), the connection it goes through, and the hostile text and Timestamp strategies
that messages and outcomes share.

Whatever arrives, the server never answers INTERNAL (or anything but OK, INVALID_ARGUMENT
and RESOURCE_EXHAUSTED): rejections carry details naming the field and the reason, and
OK answers are well formed."""

from __future__ import annotations

import re
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import strategies as st

from personalization.v1 import personalization_pb2 as pb
from personalization.v1 import personalization_pb2_grpc as pb_grpc
from server.transport.convert import MAX_REQUEST_ID_LENGTH

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


# Every code point except surrogates (a str holding one cannot be sent), so control
# characters, NUL, RTL marks and astral planes all appear.
ANY_CHAR = st.characters(exclude_categories=["Cs"])


HOSTILE = st.sampled_from(["\x00", "\n", "\x7f", "\u0085", "\u202e", "\ufeff", "😀", "ß", "İ"])


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


REQUEST_IDS = st.one_of(st.just(""), texts(MAX_REQUEST_ID_LENGTH))
