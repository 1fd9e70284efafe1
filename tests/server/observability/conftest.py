"""Fixtures of the observability tests: the experiment versions (built once per module)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.experiments import experiment_versions


@pytest.fixture(scope="module")
def models(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return experiment_versions(model_dir, tmp_path_factory.mktemp("obs-models"))
