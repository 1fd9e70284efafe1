"""Conversation rows in Feast's Redis layout, updated with a Lua compare-and-set.

A conversation is one Redis hash, keyed and laid out exactly as Feast's Redis online
store keys an entity of ``conversation_state_fv`` (``serialize_entity_key`` + project,
fields ``mmh3("view:feature")`` holding ``ValueProto`` bytes, ``_ts:view`` a protobuf
Timestamp), so Feast's ``get_online_features`` reads what the server writes. One field
of our own, ``_v:view``, counts the updates: the script writes only when it still holds
the count the writer read, then bumps it and renews the key's expiry (the view's TTL),
so an idle conversation disappears by itself. Feast ignores the extra field.

Reads are plain HMGETs (:meth:`RedisConversationStore.commands`), which the customer
reader sends in the same pipeline as the customer's own HMGET.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import redis
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.types import Float64, Int64, String
from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp

from modelio.conversation import (
    CONVERSATION_FEATURES,
    CONVERSATION_KEY,
    CONVERSATION_VIEW,
    ConversationState,
    to_row,
)
from modelio.feast_compat import redis_field, redis_key
from server.features.base import Clock, CustomerFeatures, is_live, now_clock
from server.features.conversation import ConversationRead, ConversationStore, read_of
from server.features.value_codec import decode_value

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
_SETTERS = {Float64: "double_val", Int64: "int64_val", String: "string_val"}
_SCRIPT_BYTES = SCRIPT.encode()
_STRING_TYPE = 2  # feast ValueType.STRING, as serialize_entity_key writes it


def _bulk(value: bytes) -> bytes:
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


class RedisConversationStore(ConversationStore):
    """``conversation_state_fv`` rows on Redis (or Redis Cluster: one key per script)."""

    def __init__(self, store: Any, client: Any, retries: int, clock: Clock = now_clock) -> None:
        super().__init__(retries, clock)
        config = store.config
        view = store.get_feature_view(CONVERSATION_VIEW)
        dtypes = {f.name: f.dtype for f in view.features}
        if tuple(dtypes) != CONVERSATION_FEATURES or any(
            d not in _SETTERS for d in dtypes.values()
        ):
            raise ValueError(f"{CONVERSATION_VIEW} must hold {CONVERSATION_FEATURES}: {dtypes}")
        self._setters = tuple(_SETTERS[dtypes[f]] for f in CONVERSATION_FEATURES)
        self._project = config.project
        self._key_version = config.entity_key_serialization_version
        self._ttl_s = view.ttl.total_seconds() if view.ttl else 0.0
        self._expire = str(max(1, round(self._ttl_s))).encode()
        fields = [redis_field(f"{CONVERSATION_VIEW}:{f}") for f in CONVERSATION_FEATURES]
        self._fields = tuple(fields)
        self._ts_field = f"_ts:{CONVERSATION_VIEW}".encode()
        self._version_field = f"_v:{CONVERSATION_VIEW}".encode()
        self._read_fields = (*fields, self._ts_field, self._version_field)
        self._client = client
        self._script = client.register_script(SCRIPT)
        self._pool = client.connection_pool if isinstance(client, redis.Redis) else None
        self._key_head = self._fast_key_head()
        probes: tuple[tuple[str, Any], ...] = (
            ("double_val", -0.25),
            ("int64_val", 300),
            ("int64_val", -3),
            ("string_val", "é,x"),
        )
        for setter, probe in probes:
            proto = ValueProto()
            setattr(proto, setter, probe)
            if value_bytes(setter, probe) != proto.SerializeToString():
                raise ValueError(f"ValueProto encoding changed ({setter})")

    def _fast_key_head(self) -> bytes | None:
        """What Feast puts before a string id (None if its layout is not the one
        :meth:`key` assumes; then Feast's helper builds every key)."""
        full = self.feast_key("conv-42")
        head = full[: len(full) - len(self._tail("conv-42"))]
        for probe in ("conv-42", "", "é-ü/✓", "x" * 300):
            if head + self._tail(probe) != self.feast_key(probe):
                return None
        return head

    def _tail(self, conversation_id: str) -> bytes:
        raw = conversation_id.encode("utf-8")
        return struct.pack("<II", _STRING_TYPE, len(raw)) + raw + self._project.encode()

    def key(self, conversation_id: str) -> bytes:
        """The hash key Feast's Redis store uses for this conversation."""
        if self._key_head is None:
            return self.feast_key(conversation_id)
        return self._key_head + self._tail(conversation_id)

    def feast_key(self, conversation_id: str) -> bytes:
        """:meth:`key` built by Feast's own helper."""
        entity = EntityKey(
            join_keys=[CONVERSATION_KEY], entity_values=[ValueProto(string_val=conversation_id)]
        )
        return redis_key(self._project, entity, self._key_version)

    def commands(self, conversation_ids: Sequence[str]) -> list[tuple[bytes, ...]]:
        return [(b"HMGET", self.key(cid), *self._read_fields) for cid in conversation_ids]

    def parse(
        self, conversation_ids: Sequence[str], replies: Sequence[Any], now: float
    ) -> list[ConversationRead]:
        return [
            self._parse(cid, reply, now)
            for cid, reply in zip(conversation_ids, replies, strict=True)
        ]

    def _parse(
        self, conversation_id: str, reply: list[bytes | None], now: float
    ) -> ConversationRead:
        version = reply[-1]
        row = CustomerFeatures(conversation_id)
        raw_ts = reply[-2]
        if raw_ts:
            try:
                stamp = Timestamp.FromString(raw_ts)
                event_time = stamp.seconds + stamp.nanos / 1e9
                if is_live(event_time, self._ttl_s or None, now):
                    row.event_times[CONVERSATION_VIEW] = event_time
                    for name, blob in zip(CONVERSATION_FEATURES, reply, strict=False):
                        value = decode_value(blob) if blob else None
                        if value is not None:
                            row.values[name] = value
            except DecodeError:  # a garbled row is a missing one: the turn starts afresh
                row = CustomerFeatures(conversation_id)
        return read_of(row, CONVERSATION_VIEW, version)

    def read(self, conversation_ids: Sequence[str]) -> list[ConversationRead]:
        if not conversation_ids:
            return []
        with self._client.pipeline(transaction=False) as pipe:
            for command in self.commands(conversation_ids):
                pipe.execute_command(*command)
            replies = pipe.execute()
        return self.parse(conversation_ids, replies, self.clock())

    def _args(self, read: ConversationRead, state: ConversationState, now: float) -> list[bytes]:
        stamp = Timestamp()
        stamp.FromNanoseconds(round(now * 1e9))
        args: list[bytes] = [self._version_field, read.version or b"", self._expire]
        values = to_row(state)
        for name, field, setter in zip(
            CONVERSATION_FEATURES, self._fields, self._setters, strict=True
        ):
            args += [field, value_bytes(setter, values[name])]
        args += [self._ts_field, stamp.SerializeToString()]
        return args

    def write(self, read: ConversationRead, state: ConversationState, now: float) -> bool:
        return self.write_many([(read, state)], now)[0]

    def write_many(
        self, writes: Sequence[tuple[ConversationRead, ConversationState]], now: float
    ) -> list[bool]:
        """Every compare-and-set in one round trip (EVAL, so a flushed script cache
        cannot fail it); Redis Cluster: one script call each (keys on many nodes)."""
        if not writes:
            return []
        if self._pool is None:
            return [
                bool(self._script(keys=[self.key(r.conversation_id)], args=self._args(r, st, now)))
                for r, st in writes
            ]
        parts = []
        for read, state in writes:
            args = self._args(read, state, now)
            head = b"*%d\r\n$4\r\nEVAL\r\n%s$1\r\n1\r\n" % (4 + len(args), _bulk(_SCRIPT_BYTES))
            parts.append(head + _bulk(self.key(read.conversation_id)) + b"".join(map(_bulk, args)))
        payload = b"".join(parts)
        conn = self._pool.get_connection()
        try:
            replies: list[Any] = conn.retry.call_with_retry(
                lambda: self._exchange(conn, payload, len(writes)),
                lambda _error: conn.disconnect(),
            )
        except BaseException:
            conn.disconnect()  # unread replies must not reach the next user
            raise
        finally:
            self._pool.release(conn)
        return [bool(r) for r in replies]

    @staticmethod
    def _exchange(conn: Any, payload: bytes, count: int) -> list[Any]:
        conn.send_packed_command([payload])
        return [conn.read_response() for _ in range(count)]
