"""Redis addresses in Feast's connection-string format, for every client the project opens.

``host:port[,host:port...][,key=value...]``, e.g.
``redis-0:6379,redis-1:6379,password=${PERSONALIZATION_REDIS_PASSWORD},ssl=true``: the
parts with ``=`` are connection options, values read as JSON when they parse
(``ssl=true`` is True, ``db=1`` is 1; a password or user name stays the text it is),
the rest are nodes. This is how Feast's Redis online store reads ``connection_string``
(``RedisOnlineStore._parse_connection_string``; tests/modelio/test_redis_address.py
checks both agree), so one ``PERSONALIZATION_REDIS``
serves Feast's client, the decision log's and events' streams and the training
commands alike, password included.

Only options every client here passes on unchanged to redis-py are accepted, with
checked values; a typo fails when the settings are read, not at the first write. As in
Feast, a password cannot hold a comma (it separates the parts), and parts carry no
surrounding spaces. :func:`redacted` is the form
to print: messages name the address, never its secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Options passed to redis-py's ``Redis`` and ``RedisCluster`` as keyword arguments.
OPTIONS = frozenset({"password", "username", "ssl", "db", "ssl_ca_certs", "ssl_cert_reqs"})
_SECRETS = frozenset({"password"})
_TEXT = frozenset({"password", "username"})  # "1234" is a password, not the number
_CERT_REQS = frozenset({"none", "optional", "required"})


@dataclass(frozen=True)
class RedisAddress:
    """The nodes and connection options of one address string."""

    nodes: tuple[tuple[str, int], ...]
    options: Mapping[str, Any] = field(default_factory=dict)

    def cluster_options(self) -> dict[str, Any]:
        """The options for a ``RedisCluster``, which has only database 0 and refuses
        ``db`` even when it is 0; ValueError if ``db`` is set."""
        if "db" in self.options:
            raise ValueError("db is not supported on a Redis Cluster (it has database 0 only)")
        return dict(self.options)

    def client(self, cluster: bool = False, **socket: float) -> Any:
        """A redis-py client with these options and ``socket`` (timeouts): a
        ``RedisCluster`` seeded with every node when ``cluster``, else a ``Redis`` on the
        first node. ValueError for ``db`` on a cluster."""
        import redis
        from redis.cluster import ClusterNode, RedisCluster

        if cluster:
            options: dict[str, Any] = {**self.cluster_options(), **socket}
            startup = [ClusterNode(host, port) for host, port in self.nodes]
            return RedisCluster(startup_nodes=startup, **options)
        options = {**self.options, **socket}
        host, port = self.nodes[0]
        return redis.Redis(host=host, port=port, **options)


def parse_redis_address(value: str) -> RedisAddress:
    """``value`` parsed (see the module docstring); ValueError naming the bad part (by
    its position only when the address holds a password: a part may be a piece of it)."""
    nodes: list[tuple[str, int]] = []
    options: dict[str, Any] = {}
    secret = any(p.partition("=")[0] in _SECRETS for p in value.split(","))
    for i, part in enumerate(value.split(",")):
        shown = f"part {i + 1}" if secret else repr(part)
        if part != part.strip():
            # Feast does not strip: " ssl=true" would be another keyword to its client.
            raise ValueError(f"Redis address {shown} has leading or trailing spaces")
        if "=" in part:
            key, raw = part.split("=", 1)
            if key not in OPTIONS:
                allowed = ", ".join(sorted(OPTIONS))
                raise ValueError(f"unknown Redis option {key!r} (expected one of {allowed})")
            options[key] = _option(key, raw)
            continue
        host, sep, port = part.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected host:port[,host:port...][,key=value...], got {shown}")
        nodes.append((host, int(port)))
    if not nodes:
        raise ValueError(f"no host:port in the Redis address {redacted(value)!r}")
    return RedisAddress(tuple(nodes), options)


def parse_redis_nodes(value: str) -> list[tuple[str, int]]:
    """Only the ``(host, port)`` nodes of ``value``; ValueError if malformed."""
    return list(parse_redis_address(value).nodes)


def redacted(value: str) -> str:
    """``value`` with every secret option's value replaced by ``***``."""
    parts = []
    for part in value.split(","):
        key, sep, _ = part.partition("=")
        parts.append(f"{key}=***" if sep and key.strip() in _SECRETS else part)
    return ",".join(parts)


def _option(key: str, raw: str) -> Any:
    """The value of option ``key``, checked: a typo fails here, not at the first write."""
    value = _json(raw)
    if key in _TEXT:
        # Feast reads the text as JSON: where that gives other text ("true", "null",
        # "1.50", quotes), Feast's client and ours would log in differently.
        if str(value) != raw:
            raise ValueError(f"Redis option {key} must not read as a JSON literal")
        return raw
    if key == "ssl" and not isinstance(value, bool):
        raise ValueError(f"Redis option ssl must be true or false, got {raw!r}")
    if key == "db" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"Redis option db must be a database number, got {raw!r}")
    if key == "ssl_cert_reqs" and value not in _CERT_REQS:
        raise ValueError(f"Redis option ssl_cert_reqs must be one of {sorted(_CERT_REQS)}")
    return value


def _json(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw
