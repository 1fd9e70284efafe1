"""Open the Feast repository with the online store selected by the project's switch.

``PERSONALIZATION_ONLINE_STORE`` picks the yaml (see feature_repo/README.md) and
``PERSONALIZATION_REDIS`` fills its ``${PERSONALIZATION_REDIS}``. Training, the server and
Feast's own CLI (``-f feature_repo/stores/<kind>``) therefore read the same files.
"""

from __future__ import annotations

import os
import string
from pathlib import Path
from typing import Literal, get_args

import yaml

OnlineStoreKind = Literal["sqlite", "redis", "redis_cluster"]
STORE_KINDS: tuple[str, ...] = get_args(OnlineStoreKind)
DEFAULT_REDIS = "127.0.0.1:6379"


class StoreConfigError(ValueError):
    """The online-store switch names something the repository has no config for."""


def yaml_dir(repo: Path, kind: str) -> Path:
    """Folder holding the feature_store.yaml for ``kind``."""
    if kind not in STORE_KINDS:
        raise StoreConfigError(
            f"online store {kind!r} is not one of {', '.join(STORE_KINDS)}"
            " (PERSONALIZATION_ONLINE_STORE)"
        )
    return repo if kind == "sqlite" else repo / "stores" / kind


def repo_config(repo: Path, kind: str = "sqlite", redis: str | None = None):
    """Feast RepoConfig for ``kind``; ``redis`` overrides ``$PERSONALIZATION_REDIS``."""
    from feast.repo_config import RepoConfig

    path = yaml_dir(repo, kind) / "feature_store.yaml"
    env = dict(os.environ)
    env["PERSONALIZATION_REDIS"] = redis or env.get("PERSONALIZATION_REDIS") or DEFAULT_REDIS
    text = string.Template(path.read_text()).safe_substitute(env)
    config = RepoConfig(**yaml.safe_load(text))
    config.repo_path = repo.resolve()
    return config


def open_store(repo: Path, kind: str = "sqlite", redis: str | None = None):
    """A ``feast.FeatureStore`` on ``repo`` with the selected online store."""
    from feast import FeatureStore

    return FeatureStore(repo_path=str(repo.resolve()), config=repo_config(repo, kind, redis))


def feast_cli_env(repo: Path, kind: str, redis: str | None = None) -> dict[str, str]:
    """Environment for running Feast's CLI on the same store (``FEAST_FS_YAML_FILE_PATH``)."""
    env = dict(os.environ)
    env["FEAST_FS_YAML_FILE_PATH"] = str((yaml_dir(repo, kind) / "feature_store.yaml").resolve())
    env["PERSONALIZATION_REDIS"] = redis or env.get("PERSONALIZATION_REDIS") or DEFAULT_REDIS
    return env
