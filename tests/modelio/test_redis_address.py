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
    "redis:6379,password=p@ss:w0rd=42,ssl_cert_reqs=required",
    "redis:6379,password=1234",
]


@pytest.mark.parametrize("value", SAMPLES)
def test_reads_what_feast_reads(value: str) -> None:
    feast_nodes, feast_params = RedisOnlineStore._parse_connection_string(value)
    parsed = parse_redis_address(value)
    assert [(n["host"], int(n["port"])) for n in feast_nodes] == list(parsed.nodes)
    # Feast makes "1234" the number 1234; redis-py sends both as the same AUTH bytes.
    assert {k: str(v) for k, v in feast_params.items()} == {
        k: str(v) for k, v in parsed.options.items()
    }


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
        ("redis:6379, ssl=true", "leading or trailing spaces"),  # Feast would not strip it
        ("redis:6379,ssl=off", "ssl must be true or false"),
        ("redis:6379,db=-1", "db must be a database number"),
        ("redis:6379,db=true", "db must be a database number"),
        ("redis:6379,ssl_cert_reqs=maybe", "ssl_cert_reqs must be one of"),
        ("redis:6379,password=true", "must not read as a JSON literal"),
        ("redis:6379,password=1.50", "must not read as a JSON literal"),
        ('redis:6379,username="svc"', "must not read as a JSON literal"),
    ],
)
def test_malformed_addresses_are_refused_naming_the_part(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_redis_address(value)


def test_errors_never_echo_a_part_of_an_address_with_a_password() -> None:
    # A comma inside a password splits it: the piece after it looks like a bad node.
    with pytest.raises(ValueError, match="got part 3") as caught:
        parse_redis_address("redis:6379,password=sec,ret-tail")
    assert "ret-tail" not in str(caught.value)
    with pytest.raises(ValueError, match="part 2") as caught:
        parse_redis_address("redis:6379,password=hunter2 ")
    assert "hunter2" not in str(caught.value)


def test_a_cluster_client_gets_no_db() -> None:
    assert parse_redis_address("r1:7000,password=pw").cluster_options() == {"password": "pw"}
    with pytest.raises(ValueError, match="db is not supported on a Redis Cluster"):
        parse_redis_address("r1:7000,db=0").cluster_options()


def test_settings_take_a_password_and_never_show_it() -> None:
    settings = StoreSettings(online_store="redis", redis="redis:6379,password=hunter2,ssl=true")
    assert settings.redis_nodes() == [("redis", 6379)]
    assert "hunter2" not in repr(settings)
    with pytest.raises(ValueError, match="expected host:port") as caught:
        StoreSettings(online_store="redis", redis="redis:99999,password=hunter2")
    assert "hunter2" not in str(caught.value)  # pydantic would print the input


def test_redacted_hides_only_the_password() -> None:
    value = "r1:7000,r2:7001,password=hunter2,username=svc,ssl=true"
    assert redacted(value) == "r1:7000,r2:7001,password=***,username=svc,ssl=true"
    assert redacted("127.0.0.1:6379") == "127.0.0.1:6379"


def test_feast_gets_the_whole_address_whatever_yaml_would_make_of_it() -> None:
    from pathlib import Path

    from modelio.store import repo_config

    repo = Path(__file__).resolve().parents[2] / "feature_repo"
    address = "127.0.0.1:6379,password=a #b: c'd\"e"  # a YAML comment, a mapping, quotes
    for kind in ("redis", "redis_cluster"):
        config = repo_config(repo, kind, address)
        assert config.online_store.connection_string == address
