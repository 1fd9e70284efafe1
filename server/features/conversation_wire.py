"""The bytes of conversation-row writes on Redis: the compare-and-set script, RESP bulk
strings and ``ValueProto`` encodings written directly (each update encodes nine values,
and protobuf's Python objects cost more than the write's round trip share)."""

from __future__ import annotations

import struct
from typing import Any

from feast.types import Float64, Int64, String

# KEYS[1]: the hash. ARGV: version field, version read ('' for none), key TTL (s), then
# field/value pairs. Returns 1 when written, 0 when the version moved on.
SCRIPT = """
local v = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if v ~= ARGV[2] then return 0 end
local args = {ARGV[1], tostring((tonumber(v) or 0) + 1)}
for i = 4, #ARGV do args[#args + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(args))
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""
SETTERS = {Float64: "double_val", Int64: "int64_val", String: "string_val"}
SCRIPT_BYTES = SCRIPT.encode()
STRING_TYPE = 2  # feast ValueType.STRING, as serialize_entity_key writes it


def bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def _varint(n: int) -> bytes:
    n &= 0xFFFFFFFFFFFFFFFF  # protobuf int64: two's complement, 10 bytes when negative
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def value_bytes(setter: str, value: Any) -> bytes:
    """``ValueProto(**{setter: value}).SerializeToString()``, written directly (checked
    against protobuf at start-up): it runs nine times per update."""
    if setter == "double_val":
        return b")" + struct.pack("<d", value)  # field 5, fixed64
    if setter == "int64_val":
        return b" " + _varint(int(value))  # field 4, varint
    raw = str(value).encode("utf-8")
    return b"\x12" + _varint(len(raw)) + raw  # field 2, length-delimited
