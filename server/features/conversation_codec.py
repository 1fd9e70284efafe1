"""A conversation row's bytes in Feast's Redis layout, written and read by hand.

Every turn of a conversation reads its row and writes it back, on the request's
thread, so the generic paths (a ``ValueProto`` and a ``Timestamp`` message per field,
the reader's row dict, then ``from_row``) cost more than the rest of the conversation
path together. The view's schema is fixed (``modelio.conversation``:
``CONVERSATION_FEATURES``, checked against the feature view at start-up), so this
codec writes each field's bytes directly and reads the common wire forms directly,
handing any other form to :func:`~server.features.value_codec.decode_value` (a row
written by another writer, Feast's push, decodes the same). Start-up probes compare
the encodings with protobuf's own.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp

from modelio.conversation import ConversationState, from_values, row_values
from server.features.redis_wire import bulk, value_bytes
from server.features.value_codec import decode_value

#: The ``ValueProto`` field of each of ``CONVERSATION_FEATURES``, in order.
LAYOUT = (
    "double_val",
    "int64_val",
    "double_val",
    "double_val",
    "double_val",
    "int64_val",
    "string_val",
    "string_val",
    "string_val",
)
_DOUBLE = struct.Struct("<d")
_DOUBLE_TAG = 0x29  # ValueProto field 5 (double_val), fixed64
_SMALL_INT_TAG = 0x20  # field 4 (int64_val), varint
_STRING_TAG = 0x12  # field 2 (string_val), length-delimited


def _double_bulk(value: float) -> bytes:
    return b"$9\r\n)" + _DOUBLE.pack(value) + b"\r\n"


def _int_bulk(value: int) -> bytes:
    if 0 <= value < 0x80:  # turns and the category mask: one varint byte
        return b"$2\r\n %c\r\n" % value
    return bulk(value_bytes("int64_val", value))


def _string_bulk(value: str) -> bytes:
    raw = value.encode("utf-8")
    size = len(raw)
    if size < 0x80:
        return b"$%d\r\n\x12%c%s\r\n" % (size + 2, size, raw)
    if size < 0x4000:
        return b"$%d\r\n\x12%c%c%s\r\n" % (size + 3, size & 0x7F | 0x80, size >> 7, raw)
    return bulk(value_bytes("string_val", value))


def timestamp_bytes(now: float) -> bytes:
    """``Timestamp`` of ``now`` (unix s, to the nanosecond), serialized."""
    seconds, nanos = divmod(round(now * 1e9), 1_000_000_000)
    return Timestamp(seconds=seconds, nanos=nanos).SerializeToString()


def parse_timestamp(raw: bytes) -> float:
    """Unix seconds of a serialized ``Timestamp``; raises ``DecodeError``."""
    stamp = Timestamp.FromString(raw)
    return stamp.seconds + stamp.nanos / 1e9


def _string(blob: bytes) -> Any:
    """A ``string_val`` of up to 16 KiB; any other form goes to ``decode_value``."""
    size, start = blob[1], 2
    if size & 0x80:
        if len(blob) < 3 or blob[2] & 0x80:
            return decode_value(blob)
        size, start = (size & 0x7F) | (blob[2] << 7), 3
    if len(blob) != start + size:  # more fields follow: protobuf sorts them out
        return decode_value(blob)
    try:
        return blob[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(str(exc)) from exc


def next_version(read: bytes | None) -> bytes:
    """The update counter after ``read`` (a row without one, or with garbage, is at 0)."""
    try:
        return b"%d" % (int(read or 0) + 1)
    except ValueError:
        return b"1"


class RowCodec:
    """RESP bytes of a row's fields and values, and rows from HMGET replies."""

    def __init__(self, fields: Sequence[bytes], setters: Sequence[str]) -> None:
        if tuple(setters) != LAYOUT:
            raise ValueError(f"conversation_state_fv's types changed: {tuple(setters)}")
        self._field_bulks = tuple(bulk(f) for f in fields)
        probes = (
            (-0.25, 1, 0.5, -1.0, 0.0, 300, "é,x", "?01", ""),
            (1.5e9, 127, 0.0, -0.5, 1.0, -3, "a" * 127, "?" * 128, "é" * 9000),
        )
        for probe in probes:
            ours = self._values(probe)
            theirs = [bulk(value_bytes(s, v)) for s, v in zip(LAYOUT, probe, strict=True)]
            if ours != theirs:
                raise ValueError("ValueProto encoding changed")
            if self._decode([value_bytes(s, v) for s, v in zip(LAYOUT, probe, strict=True)]) != (
                list(probe)
            ):
                raise ValueError("ValueProto decoding changed")

    @staticmethod
    def _values(values: Sequence[Any]) -> list[bytes]:
        started, turns, first, lowest, last, mask, actions, outcomes, ids = values
        return [
            _double_bulk(started),
            _int_bulk(turns),
            _double_bulk(first),
            _double_bulk(lowest),
            _double_bulk(last),
            _int_bulk(mask),
            _string_bulk(actions),
            _string_bulk(outcomes),
            _string_bulk(ids),
        ]

    @staticmethod
    def blobs(state: ConversationState) -> list[bytes]:
        """The row's ``ValueProto`` bytes, in schema order."""
        return [value_bytes(s, v) for s, v in zip(LAYOUT, row_values(state), strict=True)]

    def pairs(self, state: ConversationState) -> bytes:
        """The row's field/value pairs as RESP bulk strings, in schema order."""
        f = self._field_bulks
        v = self._values(row_values(state))
        return b"".join([f[0], v[0], f[1], v[1], f[2], v[2], f[3], v[3], f[4], v[4],
                         f[5], v[5], f[6], v[6], f[7], v[7], f[8], v[8]])  # fmt: skip

    def decode(self, blobs: Sequence[bytes | None]) -> ConversationState | None:
        """The state from the HMGET replies of the row's fields (schema order); None
        when a field is missing or the row is incomplete. Raises ``DecodeError``."""
        values = self._decode(blobs)
        return None if values is None else from_values(values)

    @staticmethod
    def _decode(blobs: Sequence[bytes | None]) -> list[Any] | None:
        out: list[Any] = []
        for setter, blob in zip(LAYOUT, blobs, strict=True):
            if not blob:
                return None
            tag, size = blob[0], len(blob)
            if setter == "double_val" and tag == _DOUBLE_TAG and size == 9:
                value: Any = _DOUBLE.unpack_from(blob, 1)[0]
                if value != value:  # NaN: null, as decode_value reads it
                    return None
            elif setter == "int64_val" and tag == _SMALL_INT_TAG and size == 2 and blob[1] < 0x80:
                value = blob[1]
            elif setter == "string_val" and tag == _STRING_TAG and size > 2:
                value = _string(blob)
            else:
                value = decode_value(blob)
            if value is None:
                return None
            out.append(value)
        return out
