"""modelio.redis_address reads Feast's connection-string format as Feast does, checks it
strictly, and never prints a password."""

from __future__ import annotations

import pytest
from feast.infra.online_stores.redis import RedisOnlineStore

from modelio.redis_address import parse_redis_address, parse_redis_nodes, redacted
from modelio.store import StoreSettings

SAMPLES = [
    "127.0.0.1:6379",
    "redis-0:6379,redis-1:6380,redis-2:6381",
    "redis:6379,db=2,ssl=true",
    "r1:7000,r2:7001,ssl=false,username=svc",
]


@pytest.mark.parametrize("value", SAMPLES)
def test_reads_what_feast_reads(value: str) -> None:
    feast_nodes, feast_params = RedisOnlineStore._parse_connection_string(value)
    parsed = parse_redis_address(value)
    assert [(n["host"], int(n["port"])) for n in feast_nodes] == list(parsed.nodes)
    assert dict(feast_params) == parsed.options


def test_password_is_kept_as_text_with_its_colons_and_equals() -> None:
    parsed = parse_redis_address("redis:6379,password=1234,db=1")
    assert parsed.options == {"password": "1234", "db": 1}  # Feast would make it int 1234
    parsed = parse_redis_address("redis:6379,password=p@ss:w0rd=42")
    assert parsed.nodes == (("redis", 6379),)
    assert parsed.options == {"password": "p@ss:w0rd=42"}
    assert parse_redis_nodes("a:1,password=x,b:2") == [("a", 1), ("b", 2)]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("redis", "expected host:port"),
        ("redis:99999", "expected host:port"),
        ("redis:6379,pasword=x", "unknown Redis option 'pasword'"),
        ("password=secret", "no host:port"),
    ],
)
def test_malformed_addresses_are_refused_naming_the_part(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        parse_redis_address(value)
    assert "secret" not in str(caught.value)


def test_settings_take_a_password_in_the_address() -> None:
    settings = StoreSettings(online_store="redis", redis="redis:6379,password=pw,ssl=true")
    assert settings.redis_nodes() == [("redis", 6379)]
    with pytest.raises(ValueError, match="unknown Redis option"):
        StoreSettings(online_store="redis", redis="redis:6379,pass=pw")


def test_redacted_hides_only_the_password() -> None:
    value = "r1:7000,r2:7001,password=hunter2,username=svc,ssl=true"
    assert redacted(value) == "r1:7000,r2:7001,password=***,username=svc,ssl=true"
    assert redacted("127.0.0.1:6379") == "127.0.0.1:6379"
