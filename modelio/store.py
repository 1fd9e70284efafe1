"""Open the Feast repository with the online store selected by the project's switch.

``PERSONALIZATION_ONLINE_STORE`` picks the yaml (see feature_repo/README.md) and
``PERSONALIZATION_REDIS`` fills its ``${PERSONALIZATION_REDIS}``. Training, the server and
Feast's own CLI (``-f feature_repo/stores/<kind>``) therefore read the same files.

:class:`StoreSettings` is the one place those two switches (and the repository path) are
read and defaulted: the server's ``Settings`` extends it, training commands build one.
"""

from __future__ import annotations

import json
import os
import string
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import yaml
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from modelio.redis_address import parse_redis_nodes

OnlineStoreKind = Literal["sqlite", "redis", "redis_cluster"]
STORE_KINDS: tuple[str, ...] = get_args(OnlineStoreKind)
REDIS_KINDS: tuple[str, ...] = ("redis", "redis_cluster")
DEFAULT_REDIS = "127.0.0.1:6379"

if TYPE_CHECKING:  # Feast is imported only when a store is opened (it is slow to import)
    from feast import FeatureStore
    from feast.repo_config import RepoConfig


class StoreConfigError(ValueError):
    """The online-store switch names something the repository has no config for."""


class StoreSettings(BaseSettings):
    """Which Feast repository and online store to use (``PERSONALIZATION_*`` variables)."""

    # hide_input_in_errors: a validation error must not print a password in redis.
    model_config = SettingsConfigDict(
        env_prefix="PERSONALIZATION_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    online_store: OnlineStoreKind = Field(
        default="sqlite",
        description="Feast online store: 'sqlite' (local file, dev), 'redis' (one "
        "server) or 'redis_cluster'.",
    )
    redis: str = Field(
        default=DEFAULT_REDIS,
        repr=False,  # may hold a password
        description="Redis address(es) as 'host:port[,host:port...]', optionally followed "
        "by Feast's connection options (',password=...,ssl=true'; modelio.redis_address); "
        "used only when online_store is redis or redis_cluster. Pass the password from a "
        "secret, e.g. 'redis:6379,password=${PERSONALIZATION_REDIS_PASSWORD}' expanded by "
        "the shell or the orchestrator.",
    )
    feature_repo: Path = Field(
        default=Path("feature_repo"), description="Feast feature repository (feature_store.yaml)."
    )

    @field_validator("redis")
    @classmethod
    def _check_redis(cls, value: str) -> str:
        parse_redis_nodes(value)
        return value

    def redis_nodes(self) -> list[tuple[str, int]]:
        """``redis`` parsed into ``[(host, port), ...]``."""
        return parse_redis_nodes(self.redis)

    @property
    def uses_redis(self) -> bool:
        """True for the Redis and Redis Cluster stores."""
        return self.online_store in REDIS_KINDS

    def open(self, repo: Path | None = None) -> FeatureStore:
        """``open_store`` on ``repo`` (default: ``feature_repo``) with this store."""
        return open_store(repo or self.feature_repo, self.online_store, self.redis)


def yaml_dir(repo: Path, kind: str) -> Path:
    """Folder holding the feature_store.yaml for ``kind``."""
    if kind not in STORE_KINDS:
        raise StoreConfigError(
            f"online store {kind!r} is not one of {', '.join(STORE_KINDS)}"
            " (PERSONALIZATION_ONLINE_STORE)"
        )
    return repo if kind == "sqlite" else repo / "stores" / kind


def repo_config(repo: Path, kind: str = "sqlite", redis: str | None = None) -> RepoConfig:
    """Feast RepoConfig for ``kind``; ``redis`` overrides ``$PERSONALIZATION_REDIS``."""
    from feast.repo_config import RepoConfig

    path = yaml_dir(repo, kind) / "feature_store.yaml"
    env = dict(os.environ)
    address = redis or env.get("PERSONALIZATION_REDIS") or DEFAULT_REDIS
    # Quoted (JSON is YAML's double-quoted form): a password with " #" or ": " in it
    # stays whole instead of ending a plain YAML scalar early (or failing with the line).
    env["PERSONALIZATION_REDIS"] = json.dumps(address)
    text = string.Template(path.read_text()).safe_substitute(env)
    config = RepoConfig(**yaml.safe_load(text))
    config.repo_path = repo.resolve()
    return config


def open_store(repo: Path, kind: str = "sqlite", redis: str | None = None) -> FeatureStore:
    """A ``feast.FeatureStore`` on ``repo`` with the selected online store."""
    from feast import FeatureStore

    return FeatureStore(repo_path=str(repo.resolve()), config=repo_config(repo, kind, redis))


def feast_cli_env(repo: Path, kind: str, redis: str | None = None) -> dict[str, str]:
    """Environment for running Feast's CLI on the same store (``FEAST_FS_YAML_FILE_PATH``)."""
    env = dict(os.environ)
    env["FEAST_FS_YAML_FILE_PATH"] = str((yaml_dir(repo, kind) / "feature_store.yaml").resolve())
    env["PERSONALIZATION_REDIS"] = redis or env.get("PERSONALIZATION_REDIS") or DEFAULT_REDIS
    return env
