"""The training commands' stream client: a plain client for one Redis server, a cluster
client when the node given is in cluster mode (a stream key may live on any master)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster

from tests.support.cluster import SingleNodeCluster
from tests.support.redis_server import running_redis
from training.feedback.streams import connect

pytestmark = pytest.mark.redis


def test_one_server_gets_a_plain_client(tmp_path: Path) -> None:
    with running_redis(tmp_path) as server:
        client = connect(server.address)
        try:
            assert type(client) is redis.Redis
            assert client.xadd("t:decisions", {"row": "{}"})
        finally:
            client.close()


def test_a_cluster_node_gets_a_cluster_client(tmp_path: Path) -> None:
    cluster = SingleNodeCluster(tmp_path)
    try:
        client = connect(cluster.address)
        try:
            assert isinstance(client, RedisCluster)
            assert client.xadd("t:decisions", {"row": "{}"})
            assert client.xlen("t:decisions") == 1
        finally:
            client.close()
    finally:
        cluster.stop()
