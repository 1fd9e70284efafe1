"""What each event kind changes, in Feast's Redis layout.

Every kind updates one feature view, the one whose values it is evidence for:

* ``activity`` adds to ``engagement_fv``'s 28-day sums: ``sessions_28d`` (+1 when it
  starts a session), ``page_views_28d``, ``minutes_28d``, and ``active_days_28d`` +1
  when it is the first activity of a UTC day (a day after the view's stored event time);
* ``purchase`` adds its amount to ``customer_profile_fv.lifetime_value`` and, for a new
  product, 1 to ``num_products``;
* ``csat_survey`` sets ``support_history_fv.last_csat``;
* ``consent_change`` sets ``customer_profile_fv.personalization_consent``.

Those are raw features the models already read (modelio.inputs); no input changes.
An op is ``(op, field, value)`` for the Lua script (server/events/apply.lua): ``d`` adds
to a double, ``i`` adds to an int64, ``day`` counts a new active day, ``s`` sets the
field to a ValueProto's bytes when the event is not older than the view's row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.types import Bool, Float64, Int64

from modelio.events import (
    ActivityEvent,
    ConsentChangeEvent,
    CsatSurveyEvent,
    Event,
    PurchaseEvent,
)
from modelio.feast_compat import redis_field

Op = tuple[bytes, bytes, bytes]

#: (view, feature, Feast type) of every feature an event may change; checked at startup
#: against the registry, because the Lua script writes the type's wire form.
TOUCHED: tuple[tuple[str, str, Any], ...] = (
    ("engagement_fv", "sessions_28d", Float64),
    ("engagement_fv", "page_views_28d", Float64),
    ("engagement_fv", "minutes_28d", Float64),
    ("engagement_fv", "active_days_28d", Int64),
    ("customer_profile_fv", "lifetime_value", Float64),
    ("customer_profile_fv", "num_products", Int64),
    ("customer_profile_fv", "personalization_consent", Bool),
    ("support_history_fv", "last_csat", Float64),
)
VIEW_OF_KIND = {
    "activity": "engagement_fv",
    "purchase": "customer_profile_fv",
    "csat_survey": "support_history_fv",
    "consent_change": "customer_profile_fv",
}


@dataclass(frozen=True)
class ViewLayout:
    """One view as stored by Feast in Redis: hash fields of its features, its time field."""

    name: str
    features: tuple[str, ...]
    fields: tuple[bytes, ...]
    ts_field: bytes
    ttl_s: float
    push_source: str | None

    def field(self, feature: str) -> bytes:
        return self.fields[self.features.index(feature)]


def view_layout(store: Any, name: str) -> ViewLayout:
    """The layout of view ``name`` from the store's registry (Feast's own field names)."""
    view = store.get_feature_view(name)
    dtypes = {f.name: f.dtype for f in view.features}
    for owner, feature, dtype in TOUCHED:
        if owner == name and dtypes.get(feature) != dtype:
            raise ValueError(f"{name}.{feature} must be {dtype}, the registry has {dtypes}")
    features = tuple(f.name for f in view.features)
    push = view.stream_source.name if view.stream_source is not None else None
    return ViewLayout(
        name=name,
        features=features,
        fields=tuple(redis_field(f"{name}:{f}") for f in features),
        ts_field=f"_ts:{name}".encode(),
        ttl_s=view.ttl.total_seconds() if view.ttl else 0.0,
        push_source=push,
    )


def _num(value: float) -> bytes:
    return repr(float(value)).encode()


def ops_for(event: Event, view: ViewLayout) -> list[Op]:
    """The Lua ops of ``event`` on ``view`` (the view of its kind)."""
    f = view.field
    if isinstance(event, ActivityEvent):
        return [
            (b"d", f("sessions_28d"), _num(1 if event.new_session else 0)),
            (b"d", f("page_views_28d"), _num(event.page_views)),
            (b"d", f("minutes_28d"), _num(event.minutes)),
            (b"day", f("active_days_28d"), b""),
        ]
    if isinstance(event, PurchaseEvent):
        return [
            (b"d", f("lifetime_value"), _num(event.amount)),
            (b"i", f("num_products"), b"1" if event.new_product else b"0"),
        ]
    if isinstance(event, CsatSurveyEvent):
        blob = ValueProto(double_val=float(event.score)).SerializeToString()
        return [(b"s", f("last_csat"), blob)]
    if isinstance(event, ConsentChangeEvent):
        blob = ValueProto(bool_val=event.personalization_consent).SerializeToString()
        return [(b"s", f("personalization_consent"), blob)]
    raise TypeError(f"no effect for {type(event).__name__}")
