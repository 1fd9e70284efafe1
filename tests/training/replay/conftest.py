"""A small simulated population shared by the replay tests (simulation only, no training:
about 3 s for 2,500 customers, against a minute or more for tests/training's ``trained``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.conftest import CUSTOMERS, SIM_SEED, simulate_into
from training.replay.population import Population, load_population


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("replay_sim")
    simulate_into(out, CUSTOMERS, SIM_SEED)
    return out


@pytest.fixture(scope="session")
def population(sim_dir: Path) -> Population:
    return load_population(sim_dir)
