"""Fixtures of the engine tests: the experiment versions (built once per module)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.experiments import experiment_versions, linked_models


@pytest.fixture(scope="module")
def models(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return experiment_versions(model_dir, tmp_path_factory.mktemp("exp-models"))


@pytest.fixture
def fresh(models: Path, tmp_path: Path) -> Path:
    """A per-test models dir whose versions are symlinks to the module's."""
    return linked_models(models, tmp_path / "models")
