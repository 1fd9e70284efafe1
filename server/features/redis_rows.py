"""A customer's features from the reply to one HMGET of its Feast hash.

:class:`~server.features.redis_reader.RedisFeatureReader` asks for every view's fields
in one HMGET; its layout says where each view's slice starts: the view's features,
then ``_ts:view`` (the row's event time, a protobuf Timestamp) and ``_ev_ts:view``
(equal to ``_ts`` when an event, not Feast, wrote the row last: server.events). A view
past its TTL is missing; garbage in one view drops that view and flags the customer
``feature_decode_error``, never the other customers of the read.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp

from server.features.base import DECODE_ERROR, CustomerFeatures, DegradedFeatures, is_live
from server.features.value_codec import decode_value

#: Each view of an HMGET: its name, where its slice starts, its TTL (s) and features.
Layout = Sequence[tuple[str, int, float | None, tuple[str, ...]]]
_parse_ts = Timestamp.FromString


def decode_customer(
    customer_id: str, reply: list[bytes | None], layout: Layout, now: float
) -> CustomerFeatures:
    """The customer's live rows, by view (degraded when a view could not be decoded)."""
    out = CustomerFeatures(customer_id)
    broken = False
    for view, start, ttl, features in layout:
        try:
            _decode_view(out, view, features, reply[start : start + len(features) + 2], ttl, now)
        except DecodeError:
            # Garbage in one customer's hash must not cost the others their answer:
            # drop this view (served as missing) and flag only this customer.
            out.event_times.pop(view, None)
            for name in features:
                out.values.pop(name, None)
            broken = True
    if broken:
        return DegradedFeatures(
            customer_id,
            out.values,
            out.event_times,
            out.realtime_time,
            degraded_reasons=(DECODE_ERROR,),
        )
    return out


def _decode_view(
    out: CustomerFeatures,
    view: str,
    features: tuple[str, ...],
    blobs: list[bytes | None],
    ttl: float | None,
    now: float,
) -> None:
    raw_ts = blobs[-2]
    if not raw_ts:
        return
    stamp = _parse_ts(raw_ts)
    event_time = stamp.seconds + stamp.nanos / 1e9
    if not is_live(event_time, ttl, now):
        return
    out.event_times[view] = event_time
    if blobs[-1] == raw_ts and event_time > out.realtime_time:
        out.realtime_time = event_time
    values = out.values
    for name, blob in zip(features, blobs, strict=False):  # blobs[-2:]: the times
        if blob:
            value = decode_value(blob)
            if value is not None:
                values[name] = value
