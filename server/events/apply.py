"""Apply validated events to the online store: one Lua call per batch (apply.lua).

The script runs atomically in Redis, so for each event the applied-id check, the
read-modify-write of the customer's hash and the marker write happen together or not
at all: a crash before the call leaves nothing applied, after it the marker exists and
a redelivery is a duplicate. The marker holds the row after the event, so a duplicate
still yields the exact offline row its first application produced.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from google.protobuf.timestamp_pb2 import Timestamp

from modelio.events import Event
from modelio.feast_compat import redis_key
from server.events.effects import VIEW_OF_KIND, ViewLayout, ops_for
from server.features.value_codec import decode_value

SCRIPT = (Path(__file__).with_name("apply.lua")).read_text(encoding="utf-8")
_LEN = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class Applied:
    """One event's fate in the online store: status 'ok', 'dup' or 'unknown', and the
    view's values after it (decoded, by feature name) unless unknown."""

    event: Event
    status: str
    view: ViewLayout
    values: dict[str, Any]


def unpack_row(packed: bytes, view: ViewLayout) -> dict[str, Any]:
    """The script's packed row (length-prefixed blobs in the view's order), decoded."""
    values, pos = {}, 0
    for name in view.features:
        (size,) = _LEN.unpack_from(packed, pos)
        pos += 4
        blob = packed[pos : pos + size]
        pos += size
        values[name] = decode_value(blob) if blob else None
    return values


class OnlineApplier:
    """Builds the script's arguments from events and runs it on ``client``."""

    def __init__(
        self,
        client: Any,
        views: dict[str, ViewLayout],
        project: str,
        join_key: str,
        key_version: int,
        marker_prefix: str,
        dedup_ttl_s: int,
    ) -> None:
        self._client = client
        self._views = views
        self._project = project
        self._join_key = join_key
        self._key_version = key_version
        self._marker_prefix = marker_prefix
        self._ttl = str(dedup_ttl_s).encode()
        self._script = client.register_script(SCRIPT)

    def key(self, customer_id: str) -> bytes:
        """The customer's hash key, exactly as Feast's Redis online store builds it."""
        entity = EntityKey(
            join_keys=[self._join_key], entity_values=[ValueProto(string_val=customer_id)]
        )
        return redis_key(self._project, entity, self._key_version)

    def marker(self, event_id: str) -> str:
        return f"{self._marker_prefix}{event_id}"

    def apply(self, events: Sequence[Event]) -> list[Applied]:
        if not events:
            return []
        keys: list[Any] = []
        args: list[Any] = [self._ttl]
        used = []
        for event in events:
            view = self._views[VIEW_OF_KIND[event.kind]]
            used.append(view)
            keys += [self.marker(event.event_id), self.key(event.customer_id)]
            stamp = Timestamp()
            stamp.FromDatetime(event.occurred_at)
            ops = ops_for(event, view)
            args += [
                repr(event.timestamp()),
                stamp.SerializeToString(),
                view.ts_field,
                repr(view.ttl_s),
                len(view.fields),
                *view.fields,
                len(ops),
            ]
            for op in ops:
                args += op
        replies = self._script(keys=keys, args=args)
        out = []
        for event, view, (status, packed) in zip(events, used, replies, strict=True):
            state = status.decode()
            values = unpack_row(packed, view) if state != "unknown" else {}
            out.append(Applied(event, state, view, values))
        return out
