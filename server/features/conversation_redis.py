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

import threading
from collections.abc import Sequence
from typing import Any

import redis
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from google.protobuf.message import DecodeError

from modelio.conversation import (
    CONVERSATION_FEATURES,
    CONVERSATION_KEY,
    CONVERSATION_VIEW,
    ConversationState,
)
from modelio.feast_compat import redis_field, redis_key
from server.features.base import Clock, is_live, now_clock
from server.features.conversation import ConversationRead, ConversationStore
from server.features.conversation_codec import (
    RowCodec,
    next_version,
    parse_timestamp,
    timestamp_bytes,
)
from server.features.conversation_outbox import DeferredWrites, Outbox
from server.features.redis_wire import SETTERS, HmgetBytes, StringKeys, bulk, round_trip

# KEYS[1]: the hash. ARGV: version field, version read ('' for none), key TTL (s), then
# field/value pairs, the version field with its next value among them. Returns 1 when
# written, 0 when the version moved on.
SCRIPT = """
local v = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if v ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""
SCRIPT_BYTES = SCRIPT.encode()


class RedisConversationStore(DeferredWrites, ConversationStore):
    """``conversation_state_fv`` rows on Redis (or Redis Cluster: one key per script)."""

    def __init__(self, store: Any, client: Any, retries: int, clock: Clock = now_clock) -> None:
        super().__init__(retries, clock)
        config = store.config
        view = store.get_feature_view(CONVERSATION_VIEW)
        dtypes = {f.name: f.dtype for f in view.features}
        if tuple(dtypes) != CONVERSATION_FEATURES or any(d not in SETTERS for d in dtypes.values()):
            raise ValueError(f"{CONVERSATION_VIEW} must hold {CONVERSATION_FEATURES}: {dtypes}")
        self._project = config.project
        self._key_version = config.entity_key_serialization_version
        self._ttl_s = view.ttl.total_seconds() if view.ttl else 0.0
        self._expire = str(max(1, round(self._ttl_s))).encode()
        fields = [redis_field(f"{CONVERSATION_VIEW}:{f}") for f in CONVERSATION_FEATURES]
        self._fields = tuple(fields)
        self._codec = RowCodec(fields, [SETTERS[dtypes[f]] for f in CONVERSATION_FEATURES])
        self._ts_field = f"_ts:{CONVERSATION_VIEW}".encode()
        self._version_field = f"_v:{CONVERSATION_VIEW}".encode()
        self._read_fields = (*fields, self._ts_field, self._version_field)
        self._client = client
        self._script = client.register_script(SCRIPT)
        self._pool = client.connection_pool if isinstance(client, redis.Redis) else None
        self._conn: Any = None  # the writes' own connection (single node)
        self._conn_lock = threading.Lock()
        self._outbox = Outbox()
        self.deferred = self._pool is not None  # a cluster pipeline takes no raw bytes
        # EVAL script numkeys key, then ARGV: 3 + the features', the time's and the version's
        argc = 4 + 3 + 2 * len(fields) + 4
        self._eval_head = b"*%d\r\n$4\r\nEVAL\r\n%s$1\r\n1\r\n" % (argc, bulk(SCRIPT_BYTES))
        self._version_bulk = bulk(self._version_field)
        self._expire_bulk = bulk(self._expire)
        self._ts_bulk = bulk(self._ts_field)
        self._keys = StringKeys(self.feast_key, self._project.encode())
        self._hmget = HmgetBytes(self._read_fields)

    def key(self, conversation_id: str) -> bytes:
        """The hash key Feast's Redis store uses for this conversation (:class:`StringKeys`)."""
        return self._keys(conversation_id)

    def feast_key(self, conversation_id: str) -> bytes:
        """:meth:`key` built by Feast's own helper."""
        entity = EntityKey(
            join_keys=[CONVERSATION_KEY], entity_values=[ValueProto(string_val=conversation_id)]
        )
        return redis_key(self._project, entity, self._key_version)

    def commands(self, conversation_ids: Sequence[str]) -> list[tuple[str | bytes, ...]]:
        # The command name as str: a cluster pipeline looks its routing policy up by it.
        return [("HMGET", self.key(cid), *self._read_fields) for cid in conversation_ids]

    def command_bytes(self, conversation_ids: Sequence[str]) -> bytes:
        return b"".join([self._hmget(self.key(cid)) for cid in conversation_ids])

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
        version, raw_ts = reply[-1], reply[-2]
        if raw_ts:
            try:
                event_time = parse_timestamp(raw_ts)
                if is_live(event_time, self._ttl_s or None, now):
                    state = self._codec.decode(reply[:-2])
                    if state is not None:
                        return ConversationRead(conversation_id, state, event_time, version)
            except DecodeError:  # a garbled row is a missing one: the turn starts afresh
                pass
        return ConversationRead(conversation_id, None, -1.0, version)

    def read(self, conversation_ids: Sequence[str]) -> list[ConversationRead]:
        if not conversation_ids:
            return []
        with self._client.pipeline(transaction=False) as pipe:
            for command in self.commands(conversation_ids):
                pipe.execute_command(*command)
            replies = pipe.execute()
        return self.parse(conversation_ids, replies, self.clock())

    def _payload(self, read: ConversationRead, state: ConversationState, now: float) -> bytes:
        """One EVAL of the script for this compare-and-set, as RESP bytes."""
        return b"".join(
            [
                self._eval_head,
                bulk(self.key(read.conversation_id)),
                self._version_bulk,
                bulk(read.version or b""),
                self._expire_bulk,
                self._codec.pairs(state),
                self._ts_bulk,
                bulk(timestamp_bytes(now)),
                self._version_bulk,
                bulk(next_version(read.version)),
            ]
        )

    def _args(self, read: ConversationRead, state: ConversationState, now: float) -> list[bytes]:
        """The script's ARGV for this compare-and-set (the cluster path)."""
        args: list[bytes] = [self._version_field, read.version or b"", self._expire]
        for field, blob in zip(self._fields, self._codec.blobs(state), strict=True):
            args += [field, blob]
        args += [self._ts_field, timestamp_bytes(now), self._version_field]
        return [*args, next_version(read.version)]

    def write(self, read: ConversationRead, state: ConversationState, now: float) -> bool:
        return self.write_many([(read, state)], now)[0]

    def write_many(
        self, writes: Sequence[tuple[ConversationRead, ConversationState]], now: float
    ) -> list[bool]:
        """Every compare-and-set in one round trip (EVAL, so a flushed script cache
        cannot fail it), on a connection of the writes' own (no pool round trip);
        Redis Cluster: one script call each (keys on many nodes)."""
        if not writes:
            return []
        if self._pool is None:
            return [
                bool(self._script(keys=[self.key(r.conversation_id)], args=self._args(r, st, now)))
                for r, st in writes
            ]
        payload = b"".join([self._payload(read, state, now) for read, state in writes])
        return [bool(r) for r in self._send(payload, len(writes))]

    def _send(self, payload: bytes, count: int) -> list[Any]:
        """``count`` commands' replies, on the writes' own connection."""
        with self._conn_lock:
            if self._conn is None:
                assert self._pool is not None  # only the single-node path sends raw bytes
                self._conn = self._pool.make_connection()
            return round_trip(self._conn, payload, count)

    def close(self) -> None:
        with self._conn_lock:
            if self._conn is not None:
                self._conn.disconnect()
                self._conn = None
