"""What the decision engine needs from an online feature store, and what readers share.

A reader serves the features of ONE Feast FeatureService (the one the model version was
trained on). Every reader must answer the same thing for the same stored data:

* ``values`` holds raw feature names (``modelio.vocab``, no view prefix) mapped to plain
  Python values, and only values that are present: a null, a NaN, a view the customer is
  absent from, and a value older than its view's TTL are all left out.
* Feast 0.67's ``get_online_features`` does NOT apply TTLs (it returns a 20-day-old value
  of a 14-day view as PRESENT), so readers apply them here, against ``_ts`` of each view.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from server.errors import FeatureStoreError

if TYPE_CHECKING:
    from server.features.conversation import ConversationRead, ConversationStore

Clock = Callable[[], float]
_SCALARS = frozenset({str, int, bool, bytes})


class FeatureReadError(FeatureStoreError):
    """The online store could not be read in time; ``reason`` is a machine-readable code
    (``feature_timeout`` or ``feature_store_unavailable``) the engine reports when it
    answers degraded."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ViewSpec:
    """One feature view of the service: what to read and how long values stay valid."""

    name: str  # the feature view's name (keys ``CustomerFeatures.event_times``)
    features: tuple[str, ...]
    ttl_seconds: float | None  # None: values never expire
    stored_name: str  # name in the online store (Feast's versioned name if versioning is on)
    response_prefix: str  # prefix of full feature names in Feast responses (``view__f``)


@dataclass(slots=True)
class CustomerFeatures:
    """One customer's usable online features."""

    customer_id: str
    values: dict[str, Any] = field(default_factory=dict)
    #: view name -> unix time (s) of the row served, for views with a valid (unexpired) row
    event_times: dict[str, float] = field(default_factory=dict)
    #: unix time (s) of the freshest served row an event wrote (server.events: real-time
    #: state, not a batch job's); -1 when none was (or the reader cannot tell)
    realtime_time: float = -1.0

    @property
    def found(self) -> bool:
        """True when at least one view holds an unexpired row for the customer."""
        return bool(self.event_times)

    def age_seconds(self, now: float) -> float:
        """Age of the freshest row served; -1 when nothing was found."""
        if not self.event_times:
            return -1.0
        return max(0.0, now - max(self.event_times.values()))


#: Reason on a customer whose stored bytes could not be decoded.
DECODE_ERROR = "feature_decode_error"


@dataclass(slots=True)
class DegradedFeatures(CustomerFeatures):
    """Features served with a caveat: a row the guard made up after a failed read (the
    customer's cached features, or nothing), or a row with an undecodable view dropped;
    ``degraded_reasons`` says why."""

    degraded_reasons: tuple[str, ...] = ()


class FeatureReader(ABC):
    """Reads one FeatureService's online features for many customers at once.

    Implementations must be thread-safe (the engine is called from many gRPC threads)
    and do at most one round trip to the store per ``read``.
    """

    #: Seconds after which ``read`` gives up by itself (e.g. a socket timeout) and
    #: raises ``FeatureReadError("feature_timeout")``; None if it may block for longer.
    #: A reader that bounds itself is called on the request's own thread by
    #: :class:`~server.features.guard.GuardedReader`, without a thread hand-off.
    self_timeout_s: float | None = None

    @abstractmethod
    def read(self, customer_ids: Sequence[str]) -> list[CustomerFeatures]:
        """One result per id, same order; raise :class:`FeatureReadError` on store failure."""

    def read_with(
        self,
        customer_ids: Sequence[str],
        conversations: ConversationStore,
        conversation_ids: Sequence[str],
    ) -> tuple[list[CustomerFeatures], list[ConversationRead]]:
        """:meth:`read` plus the conversations' rows; a reader whose store takes the
        conversation store's :meth:`~server.features.conversation.ConversationStore.
        commands` sends them in the same round trip (Redis), others read twice."""
        return self.read(customer_ids), conversations.read(conversation_ids)

    def ping(self) -> bool:
        """Cheap liveness check of the store (readiness probes poll it)."""
        return True

    def close(self) -> None:  # noqa: B027 - optional hook, most readers hold a connection
        """Release connections."""


def python_value(value: Any) -> Any:
    """A Feast ``ValueProto`` as a Python value (lists for ``*_list_val``), or None when
    null or NaN."""
    kind = value.WhichOneof("val")
    if kind is None or kind == "null_val":
        return None
    out = getattr(value, kind)
    cls = out.__class__
    if cls is float:
        return None if out != out else out  # NaN is missing, as in modelio.context
    if cls in _SCALARS:
        return out
    return list(out.val) if hasattr(out, "val") else out


def is_live(event_time: float, ttl_seconds: float | None, now: float) -> bool:
    """A row exists (Feast writes epoch 0 for none) and is not older than the TTL.

    Same rule as Feast's point-in-time joins: a value exactly ``ttl`` old still counts.
    """
    if event_time <= 0.0:
        return False
    return ttl_seconds is None or now - event_time <= ttl_seconds


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A FeatureService as the readers need it: its views and the single entity key."""

    name: str
    join_key: str
    views: tuple[ViewSpec, ...]


def describe_service(store: Any, service_name: str) -> ServiceSpec:
    """Look ``service_name`` up in the store's registry (views, TTLs, join key).

    Raises ``FeatureStoreError`` naming the service when the registry does not have it,
    or when its views are not keyed by one common entity column.
    """
    try:
        service = store.get_feature_service(service_name)
    except Exception as exc:  # Feast raises its own FeatureServiceNotFoundException
        raise FeatureStoreError(
            f"feature service {service_name!r} is not in the Feast registry of"
            f" {store.repo_path} (run feast apply): {exc}"
        ) from exc
    versioning = bool(
        getattr(store.config.registry, "enable_online_feature_view_versioning", False)
    )
    views, keys = [], set()
    for projection in service.feature_view_projections:
        # The service lookup above just re-read the registry: its views come from that
        # copy (each uncached lookup re-reads the file and logs an INFO line).
        view = store.get_feature_view(projection.name, allow_registry_cache=True)
        keys.add(tuple(view.join_keys))
        views.append(_view_spec(projection, view, versioning))
    if len(keys) != 1 or len(next(iter(keys))) != 1:
        raise FeatureStoreError(
            f"feature service {service_name!r}: views must share one entity column, got {keys}"
        )
    return ServiceSpec(service_name, next(iter(keys))[0], tuple(views))


def _view_spec(projection: Any, view: Any, versioning: bool) -> ViewSpec:
    from feast.infra.online_stores.helpers import compute_versioned_name

    ttl = view.ttl.total_seconds() if view.ttl else 0.0
    names = tuple(f.name for f in projection.features) or tuple(f.name for f in view.features)
    return ViewSpec(
        name=projection.name,
        features=names,
        ttl_seconds=ttl or None,  # Feast: a zero TTL means "never expires"
        stored_name=compute_versioned_name(view, versioning),
        response_prefix=projection.name_to_use(),
    )


def now_clock() -> float:
    """Default clock of the readers (wall time, seconds)."""
    return time.time()
