"""``python -m training replay`` end to end: a real ``python -m server`` decides, outcomes go
back through RecordOutcome, and between rounds feedback → train --from-log →
evaluate-policy → reload serve a new version (small: 2 rounds of 3,000 turns)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modelio.logrecords import DECISIONS, OUTCOMES, read_log

from ..conftest import Trained

ROOT = Path(__file__).resolve().parents[3]


def _training(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "training", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT), "FEAST_USAGE": "False"},
        timeout=600,
    )


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_two_rounds_learn_and_serve_a_new_version(trained: Trained, tmp_path: Path) -> None:
    shutil.copytree(trained.repo, tmp_path / "feature_repo")
    shutil.copytree(trained.models_dir, tmp_path / "models")
    done = _training(tmp_path, "materialize")
    assert done.returncode == 0, done.stderr
    done = _training(tmp_path, "replay", "--rounds", "2", "--turns", "3000", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    rounds = json.loads(done.stdout)["rounds"]
    assert [r["round"] for r in rounds] == [0, 1]
    assert rounds[0]["version"] != rounds[1]["version"]  # round 1 serves what it learnt
    assert rounds[1]["versions"] == {rounds[1]["version"]: 3000}  # the reload reached it
    for r in rounds:
        assert 0 < r["true_value"] <= r["oracle_value"] <= 1
        lo, hi = r["dr_ci"]
        assert lo <= r["dr_estimate"] <= hi
    logs = tmp_path / "logs"
    decided = read_log(logs, DECISIONS).column("decision_id").to_pylist()
    recorded = read_log(logs, OUTCOMES).column("decision_id").to_pylist()
    assert len(decided) == len(set(decided)) == 6000
    assert sorted(recorded) == sorted(decided)  # exactly one outcome per decision
