"""Feast's own CLI works on the same repository and honours the store switch."""

from __future__ import annotations

import subprocess

import pytest

from modelio.store import StoreConfigError, feast_cli_env, yaml_dir
from training.feast_ops import feast_executable


def _feast(repo, kind: str, *args: str, redis: str | None = None) -> str:
    done = subprocess.run(
        [feast_executable(), "-c", str(repo), *args],
        env=feast_cli_env(repo, kind, redis),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_feature_views_list_on_sqlite(sqlite_repo) -> None:
    out = _feast(sqlite_repo[0], "sqlite", "feature-views", "list")
    for name in ("customer_profile_fv", "support_history_fv", "engagement_fv"):
        assert name in out
    assert "conversation_state_fv" in out
    services = _feast(sqlite_repo[0], "sqlite", "feature-services", "list")
    assert "personalization_v1" in services and "conversation_state_v1" in services


@pytest.mark.redis
def test_materialize_incremental_on_redis(redis_repo, redis_server) -> None:
    out = _feast(
        redis_repo[0],
        "redis",
        "materialize-incremental",
        "2030-01-01T00:00:00",
        redis=redis_server.address,
    )
    assert "redis" in out


def test_unknown_store_kind_is_refused(tmp_path) -> None:
    with pytest.raises(StoreConfigError, match="PERSONALIZATION_ONLINE_STORE"):
        yaml_dir(tmp_path, "cassandra")
