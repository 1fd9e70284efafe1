"""Delete customers' rows from Feast's online store, with Feast's own key encoding.

Feast 0.67 has no public "delete these entity rows" call: ``online_write_batch`` only
upserts, and ``RedisOnlineStore.delete_entity_values(config, join_keys)`` deletes
*every* entity of a join key (it SCANs ``<join-key prefix>*<project>``; it is meant
for ``feast teardown``), so it would wipe all customers. This module therefore uses
Feast's pieces around the data:

* the store object from ``get_online_store_from_config`` (what Feast's provider uses),
  with its connection (``SqliteOnlineStore._get_conn``) or client
  (``RedisOnlineStore._get_client``, which also handles Redis Cluster);
* keys from ``serialize_entity_key`` (SQLite's ``entity_key`` column) and
  ``modelio.feast_compat.redis_key`` (the Redis hash holding every view of one entity).

SQLite: ``DELETE ... WHERE entity_key = ?`` in every Feast table of the file (every
table with ``entity_key`` and ``feature_name`` columns, so tables of removed or
renamed views are cleaned too), with ``PRAGMA secure_delete`` so the bytes are
overwritten, not just unlinked. Redis: ``DEL`` of the entity's hash (all views at once).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import get_online_store_from_config
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from modelio.feast_compat import redis_client, redis_key, sqlite_connection, sqlite_path
from modelio.store import repo_config
from training.erasure.types import Outcome

#: Join key of the ``customer`` entity (feature_repo/entities.py), used when the
#: registry cannot be read.
DEFAULT_JOIN_KEY = "customer_id"
_TS_FIELD = b"_ts:"


def join_key(repo: Path, kind: str, redis: str | None) -> str:
    """The ``customer`` entity's join key from the registry (else ``customer_id``)."""
    config = repo_config(repo, kind, redis)
    registry = Path(config.registry.path)
    if not registry.is_absolute():
        registry = repo / registry
    if not registry.exists():
        return DEFAULT_JOIN_KEY
    from feast import FeatureStore

    try:
        store = FeatureStore(repo_path=str(repo.resolve()), config=config)
        return str(store.get_entity("customer").join_key)
    except Exception:  # no such entity, unreadable registry: the repo's documented key
        return DEFAULT_JOIN_KEY


def entity_key(customer_id: str, key: str = DEFAULT_JOIN_KEY) -> EntityKeyProto:
    return EntityKeyProto(join_keys=[key], entity_values=[ValueProto(string_val=customer_id)])


def erase_online(
    repo: Path, kind: str, redis: str | None, customer_ids: Sequence[str], key: str
) -> Outcome:
    """Remove ``customer_ids`` from the ``kind`` online store of ``repo``."""
    config = repo_config(repo, kind, redis)
    store = get_online_store_from_config(config.online_store)
    if kind == "sqlite":
        return _erase_sqlite(config, store, customer_ids, key)
    return _erase_redis(config, store, kind, customer_ids, key)


def _feast_tables(conn: sqlite3.Connection) -> list[str]:
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    tables = []
    for name in names:
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({_quote(name)})")}
        if {"entity_key", "feature_name"} <= columns:
            tables.append(name)
    return sorted(tables)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _erase_sqlite(config: Any, store: Any, customer_ids: Sequence[str], key: str) -> Outcome:
    out = Outcome("online", "sqlite", "values")
    db_path = sqlite_path(store, config)
    out.place = f"sqlite {db_path.name}"
    if not db_path.exists():  # never materialized: connecting would create the file
        out.note = "no database file"
        return out
    prefix = f"{config.project}_"
    version = config.entity_key_serialization_version
    conn = sqlite_connection(store, config)
    try:
        conn.execute("PRAGMA secure_delete = ON")  # overwrite deleted cells with zeros
        tables = _feast_tables(conn)
        with conn:
            for cid in customer_ids:
                blob = serialize_entity_key(entity_key(cid, key), version)
                per_table: dict[str, int] = {}
                for table in tables:
                    cur = conn.execute(f"DELETE FROM {_quote(table)} WHERE entity_key = ?", (blob,))
                    if cur.rowcount > 0:
                        view = table[len(prefix) :] if table.startswith(prefix) else table
                        per_table[view] = cur.rowcount
                out.removed[cid] = sum(per_table.values())
                out.detail[cid] = per_table
        # WAL databases keep the old pages in the -wal file until a checkpoint.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
        store._conn = None
    return out


def _erase_redis(
    config: Any, store: Any, kind: str, customer_ids: Sequence[str], key: str
) -> Outcome:
    out = Outcome("online", kind, "keys")
    client = redis_client(store, config.online_store)
    version = config.entity_key_serialization_version
    try:
        for cid in customer_ids:
            hash_key = redis_key(config.project, entity_key(cid, key), version)
            fields = client.hkeys(hash_key)
            views = sorted(
                f[len(_TS_FIELD) :].decode("utf-8", "replace")
                for f in fields
                if f.startswith(_TS_FIELD)
            )
            deleted = int(client.delete(hash_key))
            out.removed[cid] = deleted
            out.detail[cid] = {view: 1 for view in views} if deleted else {}
    finally:
        client.close()
    return out
