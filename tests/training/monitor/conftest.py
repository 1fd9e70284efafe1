"""Simulated decision logs for the monitor tests: replay-world turns scored by the session's
trained test version (``trained``), eight weekly windows of 1,500 decisions, drift (if
any) from the fifth window on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest

from modelio.logrecords import DECISIONS, OUTCOMES, table
from modelio.manifest import Manifest, load_manifest
from tests.training.conftest import Trained
from training.monitor.simlog import Scorer, SimLog, served_records, simulate_log, write_log
from training.replay.drift import Drift
from training.replay.population import Population, load_population
from training.replay.world import World
from training.sim.config import DAY

WINDOWS = 8
PER_WINDOW = 1500
SHIFT_WINDOW = 4  # the first drifted window


@dataclass(frozen=True)
class Setup:
    population: Population
    records: dict[str, dict[str, object]]
    scorer: Scorer
    manifest: Manifest
    models_dir: Path

    @property
    def shift_s(self) -> int:
        return self.population.snapshot_s + SHIFT_WINDOW * 7 * DAY

    def log(self, drift: Drift | None, seed: int = 7) -> SimLog:
        """Eight week-long batches (a window = a week: every hour and weekday in each)."""
        world = World(self.population, seed=seed, drift=drift)
        logs = [
            simulate_log(world, self.records, self.scorer, PER_WINDOW, index=i, days=7)
            for i in range(WINDOWS)
        ]
        return SimLog(
            [r for log in logs for r in log.decisions], [r for log in logs for r in log.outcomes]
        )


def tables(log: SimLog) -> tuple[pa.Table, pa.Table]:
    return table(DECISIONS, log.decisions), table(OUTCOMES, log.outcomes)


@pytest.fixture(scope="session")
def setup(trained: Trained) -> Setup:
    version_dir = trained.result.version_dir
    manifest = load_manifest(version_dir)
    population = load_population(trained.data_dir)
    records = served_records(trained.data_dir, population)
    return Setup(population, records, Scorer(version_dir, manifest), manifest, trained.models_dir)


@pytest.fixture(scope="session")
def drifted_log_dir(setup: Setup, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log folder with the sentiment shift of -0.5 from the fifth window on."""
    out = tmp_path_factory.mktemp("monitor_logs")
    write_log(out, setup.log(Drift(after_s=setup.shift_s, sentiment_shift=-0.5)), "sim")
    return out
