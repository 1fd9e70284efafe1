"""Build a consumer from the settings: the Feast repository's layout, the Redis clients."""

from __future__ import annotations

import os
import socket
from typing import Any

import redis

from modelio.redis_address import parse_redis_address
from modelio.store import open_store
from server.errors import FeatureStoreError
from server.events.apply import OnlineApplier
from server.events.consumer import EventConsumer
from server.events.effects import VIEW_OF_KIND, view_layout
from server.events.offline import OfflineWriter
from server.features.redis_wire import connect
from server.settings import Settings


def stream_client(address: str) -> redis.Redis:
    """A client of the events' Redis (the first node of ``address``, with its options)."""
    client: redis.Redis = parse_redis_address(address).client(
        socket_timeout=30, socket_connect_timeout=5
    )
    return client


def build_consumer(settings: Settings, store: Any = None) -> EventConsumer:
    """A consumer over the online store of ``settings`` (which must be 'redis')."""
    if settings.online_store != "redis":
        raise FeatureStoreError(
            f"the events consumer writes Feast's Redis layout; online_store is "
            f"{settings.online_store!r} (set PERSONALIZATION_ONLINE_STORE=redis)"
        )
    store = store or open_store(settings.feature_repo, "redis", settings.redis)
    views = {name: view_layout(store, name) for name in set(VIEW_OF_KIND.values())}
    entity = store.get_entity("customer")
    online = connect(store.config.online_store.connection_string, cluster=False, timeout_s=30)
    applier = OnlineApplier(
        online,
        views,
        project=store.config.project,
        join_key=entity.join_key,
        key_version=store.config.entity_key_serialization_version,
        marker_prefix=f"{settings.events_stream}:applied:",
        dedup_ttl_s=settings.events_dedup_ttl_s,
    )
    offline = None
    if settings.events_offline:
        offline = OfflineWriter(
            store,
            settings.feature_repo / ".events-offline.lock",
            settings.events_offline_flush_s,
            settings.events_offline_batch,
        )
    name = settings.events_consumer or f"{socket.gethostname()}-{os.getpid()}"
    return EventConsumer(stream_client(settings.events_address), applier, offline, settings, name)
