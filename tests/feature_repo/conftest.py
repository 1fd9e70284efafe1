from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from bench.prepare import copy_repo
from tests.support.feature_data import write_sources
from tests.support.redis_server import RedisServer, start_redis
from training.feast_ops import apply_repo, materialize


@pytest.fixture(scope="module")
def sources_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, pd.DataFrame]]:
    """A feature repo with known data, applied (registry + SQLite tables), not materialized."""
    repo = copy_repo(tmp_path_factory.mktemp("repo"))
    frames = write_sources(repo / "data", n_customers=300)
    apply_repo(repo)
    return repo, frames


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sqlite_repo(sources_repo: tuple[Path, dict[str, pd.DataFrame]]):
    repo, frames = sources_repo
    materialize(repo, "sqlite")
    return repo, frames


@pytest.fixture(scope="module")
def redis_repo(sources_repo, redis_server: RedisServer):
    repo, frames = sources_repo
    apply_repo(repo, "redis", redis_server.address)
    materialize(repo, "redis", redis_server.address)
    return repo, frames
