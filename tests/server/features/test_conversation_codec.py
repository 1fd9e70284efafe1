"""The conversation row codec writes and reads exactly what Feast's ValueProto path does."""

from __future__ import annotations

import math

import pytest
from feast.protos.feast.types.Value_pb2 import Value
from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from modelio.conversation import (
    CONVERSATION_FEATURES,
    ConversationState,
    from_row,
    row_values,
    to_row,
)
from server.features.base import python_value
from server.features.conversation_codec import (
    LAYOUT,
    RowCodec,
    next_version,
    parse_timestamp,
    timestamp_bytes,
)
from server.features.redis_wire import bulk

FIELDS = [f"field-{i}".encode() for i in range(len(LAYOUT))]
CODEC = RowCodec(FIELDS, LAYOUT)
ids = st.text("0123456789abcdef", min_size=1, max_size=40)
states = st.integers(1, 25).flatmap(
    lambda n: st.builds(
        ConversationState,
        st.floats(0, 2e9),
        st.integers(1, 10_000),
        st.floats(-1, 1),
        st.floats(-1, 1),
        st.floats(-1, 1),
        st.integers(0, 2**40),
        st.lists(
            st.sampled_from(["faq_answer", "human_handoff", "é-x"]), min_size=n, max_size=n
        ).map(tuple),
        st.lists(st.sampled_from([-1, 0, 1]), min_size=n, max_size=n).map(tuple),
        st.lists(ids, min_size=n, max_size=n).map(tuple),
    )
)


def _proto_blobs(state: ConversationState) -> list[bytes]:
    """Each field as Feast writes it: a ValueProto message, serialized."""
    out = []
    for setter, value in zip(LAYOUT, row_values(state), strict=True):
        proto = Value()
        setattr(proto, setter, value)
        out.append(proto.SerializeToString())
    return out


@settings(max_examples=300, deadline=None)
@given(states)
def test_pairs_and_decode_match_protobuf(state: ConversationState) -> None:
    blobs = _proto_blobs(state)
    expected = b"".join(bulk(f) + bulk(b) for f, b in zip(FIELDS, blobs, strict=True))
    assert CODEC.pairs(state) == expected
    assert CODEC.blobs(state) == blobs
    generic = from_row(
        {
            n: python_value(Value.FromString(b))
            for n, b in zip(CONVERSATION_FEATURES, blobs, strict=True)
        }
    )
    assert CODEC.decode(blobs) == generic == state


def test_missing_null_or_partial_rows_decode_as_none() -> None:
    state = ConversationState(1.0, 2, 0.1, -0.2, 0.3, 5, ("a", "b"), (-1, 0), ("d1", "d2"))
    blobs: list[bytes | None] = list(_proto_blobs(state))
    assert CODEC.decode(blobs) == state
    for i in range(len(blobs)):
        broken = list(blobs)
        broken[i] = None
        assert CODEC.decode(broken) is None
    nan = list(blobs)
    nan[2] = Value(double_val=math.nan).SerializeToString()
    assert CODEC.decode(nan) is None
    uneven = list(blobs)
    uneven[6] = Value(string_val="a").SerializeToString()  # one action, two ids
    assert CODEC.decode(uneven) is None


def test_garbled_bytes_raise_decode_error() -> None:
    state = ConversationState(1.0, 2, 0.1, -0.2, 0.3, 5, ("a", "b"), (-1, 0), ("d1", "d2"))
    blobs = _proto_blobs(state)
    for garbage in (b"\x12\x05ab", b"\x12\x02\xff\xfe", b"\x29\x00"):
        with pytest.raises(DecodeError):
            CODEC.decode([*blobs[:6], garbage, *blobs[7:]])


def test_a_schema_that_changed_is_refused() -> None:
    with pytest.raises(ValueError, match="types changed"):
        RowCodec(FIELDS, ("double_val",) * len(LAYOUT))


def test_timestamps_and_versions() -> None:
    for now in (0.0, 1.5, 1_764_612_345.123456789, 1_764_612_345.0):
        stamp = Timestamp()
        stamp.FromNanoseconds(round(now * 1e9))
        assert timestamp_bytes(now) == stamp.SerializeToString()
        assert parse_timestamp(timestamp_bytes(now)) == pytest.approx(now, abs=1e-6)
    assert [next_version(v) for v in (None, b"", b"7", b"x")] == [b"1", b"1", b"8", b"1"]
    assert to_row(ConversationState(1.0, 1, 0, 0, 0, 0, ("a",), (1,), ("d",)))["outcomes"] == "1"
