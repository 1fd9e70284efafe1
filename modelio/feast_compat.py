"""Feast's private names this project depends on, used in this one place.

Our direct Redis reader and the erasure of online rows must build exactly the keys and
hash fields Feast's Redis online store writes, and reach the very connections its
online stores use. Feast exposes the helpers only under
private names, so they are imported here and nowhere else: a Feast upgrade that moves
or changes them breaks this module (guarded by the ``feast`` version pin in
pyproject.toml and by the Redis reader's parity tests against Feast's own reads).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from feast.infra.online_stores.helpers import _mmh3, _redis_key
from feast.infra.online_stores.redis import RedisOnlineStore
from feast.protos.feast.types.EntityKey_pb2 import EntityKey


def redis_field(feature_ref: str) -> bytes:
    """Hash field of ``"<view>:<feature>"`` in a Redis entity hash (Feast's mmh3)."""
    return _mmh3(feature_ref)


def redis_key(
    project: str, entity_key: EntityKey, entity_key_serialization_version: int = 3
) -> bytes:
    """Redis key of one entity's hash: serialized entity key + project (Feast's layout)."""
    return _redis_key(project, entity_key, entity_key_serialization_version)


def parse_redis_connection_string(
    connection_string: str,
) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """Feast's reading of ``connection_string``: startup nodes and connection kwargs."""
    nodes, params = RedisOnlineStore._parse_connection_string(connection_string)
    return list(nodes), dict(params)


def redis_client(store: RedisOnlineStore, online_config: Any) -> Any:
    """The redis-py client Feast's Redis online store uses for ``online_config``."""
    return store._get_client(online_config)


def sqlite_path(store: Any, repo_config: Any) -> Path:
    """The SQLite online store's database file for ``repo_config``."""
    return Path(store._get_db_path(repo_config))


def sqlite_connection(store: Any, repo_config: Any) -> sqlite3.Connection:
    """The connection Feast's SQLite online store uses for ``repo_config``."""
    conn: sqlite3.Connection = store._get_conn(repo_config)
    return conn
