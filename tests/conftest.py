"""Session fixtures shared by the server tests: a real Feast repo (SQLite + a private
Redis) with known data, and a small real model version. Each is built once, lazily."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import SingleNodeCluster
from tests.support.feast import FeastFixture, build_feast_repo, materialize
from tests.support.models import make_model_version
from tests.support.redis_server import RedisServer, start_redis


@pytest.fixture(scope="session", autouse=True)
def decision_log_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Settings built anywhere in the tests (and servers they start as subprocesses,
    which inherit the environment) write the default 'file' decision log here, not
    into ./logs of the working directory. Tests about the log pass their own folder."""
    folder = tmp_path_factory.mktemp("decision-log")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PERSONALIZATION_DECISION_LOG_DIR", str(folder))
        yield folder


@pytest.fixture(scope="session")
def engine_feast_repo(tmp_path_factory: pytest.TempPathFactory) -> FeastFixture:
    """1,200 synthetic customers, applied and materialized into SQLite."""
    fixture = build_feast_repo(tmp_path_factory.mktemp("feast") / "repo", n=1200)
    materialize(fixture, "sqlite")
    return fixture


@pytest.fixture(scope="session")
def engine_redis(
    engine_feast_repo: FeastFixture, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisServer]:
    """A private redis-server holding the same data (killed at the end of the session)."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        materialize(engine_feast_repo, "redis", server.address)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def engine_redis_cluster(
    engine_feast_repo: FeastFixture, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SingleNodeCluster]:
    """A one-node Redis Cluster holding the same data (killed at the end of the session)."""
    cluster = SingleNodeCluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        materialize(engine_feast_repo, "redis_cluster", cluster.address)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``models/`` with one trained version ``test-v1`` marked current."""
    models = tmp_path_factory.mktemp("models")
    make_model_version(models, "test-v1")
    return models
