"""decode_value reads stored ValueProto bytes exactly as protobuf + python_value do."""

from __future__ import annotations

from typing import Any

import pytest
from feast.protos.feast.types.Value_pb2 import Value
from google.protobuf.message import DecodeError
from hypothesis import example, given, settings
from hypothesis import strategies as st

from server.features import value_codec
from server.features.base import python_value
from server.features.value_codec import decode_value

INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
values = st.one_of(
    st.builds(lambda v: Value(double_val=v), st.floats(allow_nan=True, width=64)),
    st.builds(lambda v: Value(float_val=v), st.floats(allow_nan=True, width=32)),
    st.builds(lambda v: Value(int64_val=v), INT64),
    st.builds(lambda v: Value(int32_val=v), INT32),
    st.builds(lambda v: Value(unix_timestamp_val=v), INT64),
    st.builds(lambda v: Value(bool_val=v), st.booleans()),
    st.builds(lambda v: Value(string_val=v), st.text(max_size=300)),
    st.builds(lambda v: Value(bytes_val=v), st.binary(max_size=20)),
    st.builds(lambda v: Value(null_val=0), st.none()),  # type: ignore[arg-type]
    st.builds(lambda v: Value(double_list_val={"val": v}), st.lists(st.floats(), max_size=3)),  # type: ignore[arg-type]
    st.builds(lambda v: Value(string_list_val={"val": v}), st.lists(st.text(), max_size=3)),  # type: ignore[arg-type]
    st.just(Value()),
)


def reference(blob: bytes) -> Any:
    return python_value(Value.FromString(blob)) if blob else None


def same(a: Any, b: Any) -> bool:
    """Same type and value; repr compares floats exactly and NaN equal to NaN."""
    return type(a) is type(b) and repr(a) == repr(b)


@settings(max_examples=1500, deadline=None)
@given(value=values)
def test_every_value_decodes_like_protobuf(value: Value) -> None:
    blob = value.SerializeToString()
    value_codec._SEEN.clear()
    assert same(decode_value(blob), reference(blob))
    assert same(decode_value(blob), reference(blob))  # the memoized answer too


@settings(max_examples=1500, deadline=None)
@given(blob=st.binary(max_size=16))
@example(b"\x12\x02\xff\xfe")  # invalid UTF-8 in a short string
@example(b"\x20" + b"\xff" * 10 + b"\x01")  # an 11-byte varint
@example(b"\x29" + b"\x00" * 8 + b"\x20\x01")  # a double, then an int64: the last wins
@example(b"\x38\x02")  # bool written as 2
@example(b"\x18" + b"\xff" * 9 + b"\x01")  # int32 -1, sign-extended to 10 bytes
def test_arbitrary_bytes_decode_or_fail_like_protobuf(blob: bytes) -> None:
    value_codec._SEEN.clear()
    try:
        expected = reference(blob)
    except DecodeError:
        with pytest.raises(DecodeError):
            decode_value(blob)
        return
    assert same(decode_value(blob), expected)


def test_the_memo_stops_growing_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    value_codec._SEEN.clear()
    monkeypatch.setattr(value_codec, "_SEEN_MAX", 3)
    for i in range(10):
        assert decode_value(Value(int64_val=i).SerializeToString()) == i
    assert len(value_codec._SEEN) == 3
