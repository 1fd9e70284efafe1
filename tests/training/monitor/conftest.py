"""Simulated decision logs for the monitor tests: replay-world turns scored by the session's
trained test version (``trained``), eight weekly windows of 1,500 decisions, drift (if
any) from the fifth window on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

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

    def fresh_store_log(self, drift: Drift | None, seed: int = 7) -> SimLog:
        """Eight day-long windows, each a fresh draw of the day after the snapshot, moved
        to its own day: a stationary world whose online store is refreshed daily (served
        features at most a day old, as in training; a multi-week replay against the one
        materialized snapshot serves ever staler history, which the monitor flags on
        ``days_since_last_ticket``). ``drift`` (all turns) from the fifth window on."""
        parts = []
        for i in range(WINDOWS):
            world = World(self.population, seed=seed * 1000 + i,
                          drift=drift if i >= SHIFT_WINDOW else None)  # fmt: skip
            parts.append(_moved(simulate_log(world, self.records, self.scorer, PER_WINDOW), i))
        return SimLog(
            [r for p in parts for r in p.decisions], [r for p in parts for r in p.outcomes]
        )


def _moved(log: SimLog, days: int) -> SimLog:
    """The log ``days`` days later, with its decision ids prefixed ``w<days>-``."""
    later = timedelta(days=days)

    def move(row: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
        out = {**row, "decision_id": f"w{days}-{row['decision_id']}"}
        return out | {k: row[k] + later for k in keys}

    return SimLog(
        [move(d, ("ts", "event_time")) for d in log.decisions],
        [move(o, ("received_at", "event_time")) for o in log.outcomes],
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
