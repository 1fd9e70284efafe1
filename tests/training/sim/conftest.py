"""One small simulation (1,500 customers in two chunks) shared by the simulator tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from training.sim.config import SimConfig
from training.sim.run import simulate

END = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="package")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    cfg = SimConfig(customers=1500, seed=7, end=END, out=out, chunk_size=1000)  # two chunks
    simulate(cfg, progress=None)
    return out
