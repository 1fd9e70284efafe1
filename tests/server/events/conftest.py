"""A private world per test: a redis-server holding a copy of the session's materialized
features, a copy of the Feast repository (offline pushes land in it) and the consumer's
settings over both."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from server.events.build import build_consumer, stream_client
from server.events.consumer import EventConsumer
from server.features.redis_reader import RedisFeatureReader
from server.settings import Settings
from tests.support.chaos import private_redis
from tests.support.events import copy_feature_repo
from tests.support.feast import FeastFixture
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis


@dataclass
class World:
    redis: RedisServer
    repo: Path
    client: Any  # redis.Redis (its stubs type replies as Awaitable | Any)
    store: Any
    reader: RedisFeatureReader
    fixture: FeastFixture
    consumers: list[EventConsumer] = field(default_factory=list)

    def consumer(self, **overrides: Any) -> EventConsumer:
        """An in-process consumer over this world (closed at the end of the test)."""
        consumer = build_consumer(self.settings(**overrides))
        self.consumers.append(consumer)
        return consumer

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "online_store": "redis",
            "redis": self.redis.address,
            "feature_repo": self.repo,
            "events_block_ms": 10,
            "events_offline_flush_s": 0.05,
            **overrides,
        }
        return Settings(**values)

    def features(self, customer_id: str) -> dict[str, Any]:
        """What the server's feature reader serves for ``customer_id`` now."""
        return dict(self.reader.read([customer_id])[0].values)


@pytest.fixture
def world(
    engine_feast_repo: FeastFixture, engine_redis: RedisServer, tmp_path: Path
) -> Iterator[World]:
    (tmp_path / "redis").mkdir()
    with private_redis(tmp_path / "redis", engine_redis) as server:
        repo = copy_feature_repo(engine_feast_repo.repo, tmp_path / "repo")
        store = engine_feast_repo.store("redis", server.address)
        reader = RedisFeatureReader(store, "personalization_v1")
        client = stream_client(server.address)
        world = World(server, repo, client, store, reader, engine_feast_repo)
        try:
            yield world
        finally:
            for consumer in world.consumers:
                consumer.close()
            client.close()
            reader.close()
