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

Only options every client here passes on unchanged to redis-py are accepted; a typo
fails when the settings are read, not at the first write. :func:`redacted` is the form
to print: messages name the address, never its secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

#: Options passed to redis-py's ``Redis`` and ``RedisCluster`` as keyword arguments.
OPTIONS = frozenset({"password", "username", "ssl", "db", "ssl_ca_certs", "ssl_cert_reqs"})
_SECRETS = frozenset({"password"})
_TEXT = frozenset({"password", "username"})  # "1234" is a password, not the number


@dataclass(frozen=True)
class RedisAddress:
    """The nodes and connection options of one address string."""

    nodes: tuple[tuple[str, int], ...]
    options: dict[str, Any] = field(default_factory=dict)


def parse_redis_address(value: str) -> RedisAddress:
    """``value`` parsed (see the module docstring); ValueError naming the bad part."""
    nodes: list[tuple[str, int]] = []
    options: dict[str, Any] = {}
    for part in value.split(","):
        part = part.strip()
        if "=" in part:
            key, raw = part.split("=", 1)
            if key not in OPTIONS:
                allowed = ", ".join(sorted(OPTIONS))
                raise ValueError(f"unknown Redis option {key!r} (expected one of {allowed})")
            options[key] = raw if key in _TEXT else _value(raw)
            continue
        host, sep, port = part.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected host:port[,host:port...][,key=value...], got {part!r}")
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


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw
