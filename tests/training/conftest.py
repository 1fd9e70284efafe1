"""One small end-to-end training run shared by test_train, test_onnx_parity, test_manifest
and test_context_shared: simulate 2,500 customers into a copy of feature_repo/, train
(feast apply + point-in-time joins + three models + export) once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.prepare import copy_repo
from training.pipeline import TrainResult, train_version

CUSTOMERS = 2500
SIM_SEED = 11
VERSION = "test-train-v1"


@dataclass(frozen=True)
class Trained:
    """The simulated repo and the version trained on it."""

    repo: Path
    data_dir: Path
    models_dir: Path
    result: TrainResult


def simulate_into(data_dir: Path, customers: int, seed: int) -> None:
    """The project's simulator (the same code as ``python -m training simulate``)."""
    from training.sim.config import SimConfig
    from training.sim.run import simulate

    simulate(SimConfig(customers=customers, seed=seed, out=data_dir), progress=None)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    root = tmp_path_factory.mktemp("training")
    repo = copy_repo(root / "feature_repo")
    simulate_into(repo / "data", CUSTOMERS, SIM_SEED)
    models = root / "models"
    models.mkdir()
    result = train_version(repo / "data", repo, models, version=VERSION, seed=7)
    return Trained(repo, repo / "data", models, result)
