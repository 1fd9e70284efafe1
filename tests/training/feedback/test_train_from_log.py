"""``train --from-log``: the reward model is fitted on the logged-bandit dataset (segments
and escalation from the simulated history as usual), its estimate cross-fitted over the
log; too small a log is refused."""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from modelio.manifest import current_version_dir, load_manifest
from modelio.vocab import ACTIONS
from tests.support.candidate import P_SUCCESS, synthetic_log
from tests.training.conftest import Trained
from training.commands import train
from training.export import graphs
from training.feedback.dataset import DatasetError
from training.feedback.offpolicy import candidate_arrays, evaluate_candidate, score_rows


def _args(dataset: Path, tmp_path: Path, trained: Trained | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    train.configure(parser)
    data = trained.data_dir if trained else tmp_path / "data"
    repo = trained.repo if trained else tmp_path / "repo"
    argv = ["--from-log", "--dataset", str(dataset), "--data-dir", str(data), "--repo", str(repo)]
    return parser.parse_args([*argv, "--models-dir", str(tmp_path / "models")])


def test_too_small_or_incomplete_log_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = synthetic_log(700, seed=2)
    small = tmp_path / "small.parquet"
    pq.write_table(log.dataset.slice(0, 100), small)
    assert train.run(_args(small, tmp_path)) == 1
    assert "100 rows; at least 500" in capsys.readouterr().err
    partial = tmp_path / "partial.parquet"
    keep = pc.not_equal(log.dataset.column("action_index"), 3)
    pq.write_table(log.dataset.filter(keep), partial)
    assert train.run(_args(partial, tmp_path)) == 1
    assert ACTIONS[3] in capsys.readouterr().err
    assert train.run(_args(tmp_path / "none.parquet", tmp_path)) == 1
    assert "no logged-bandit dataset" in capsys.readouterr().err


@pytest.mark.slow
def test_reward_model_learns_from_the_log(trained: Trained, tmp_path: Path) -> None:
    log = synthetic_log(2000, seed=4)
    dataset = tmp_path / "bandit.parquet"
    pq.write_table(log.dataset, dataset)
    args = _args(dataset, tmp_path, trained)
    args.version = "from-log-v1"
    assert train.run(args) == 0
    version_dir = current_version_dir(tmp_path / "models")
    manifest = load_manifest(version_dir)  # sha256 of every exported file checked
    assert manifest.version == "from-log-v1"
    assert manifest.metrics["nba"]["source"] == "source + logged decisions"
    assert manifest.metrics["rows"]["logged_decisions"] == 2000
    # The OPE in the manifest is cross-fitted over every logged row, and it covers the
    # true value of the version that was served (fitted on all of them).
    metrics = manifest.metrics["nba"]
    assert metrics["n"] == 2000 and metrics["folds"] == 5
    last = log.dataset.column("ts")[-1].as_py()
    assert metrics["logged_through"] == last.isoformat()
    served = candidate_arrays(version_dir, log.dataset)["pi"] @ P_SUCCESS
    lo, hi = metrics["dr_ci"]
    assert lo <= float(served.mean()) <= hi, (served.mean(), metrics)
    # evaluate-policy: no row is newer than the training data, so the cross-fitted
    # estimate stands; so it does with a few newer rows (their estimate would be noise)
    report = evaluate_candidate(version_dir, log.dataset, resamples=50)
    assert report["basis"] == "cross-fitted at training" and report["unseen_rows"] == 0
    assert report["dr"] == {"estimate": metrics["dr"], "ci": metrics["dr_ci"]}
    with pytest.raises(DatasetError, match="rows it was trained on"):
        score_rows(version_dir, log.dataset, resamples=50)
    few = synthetic_log(100, seed=8, start=last + timedelta(seconds=1), prefix="few")
    report = evaluate_candidate(version_dir, pa.concat_tables([log.dataset, few.dataset]))
    assert report["basis"] == "cross-fitted at training" and report["unseen_rows"] == 100
    # enough rows logged since: the version itself scores them, and only them (the first
    # later row shares the last training row's time, so it counts as learnt from)
    later = synthetic_log(600, seed=9, start=last, prefix="later")
    report = evaluate_candidate(version_dir, pa.concat_tables([log.dataset, later.dataset]))
    assert report["basis"] == "unseen rows" and report["n"] == report["unseen_rows"] == 599
    assert report["training_estimate"]["dr"]["estimate"] == metrics["dr"]
    assert manifest.metrics["parity"]["nba_max_abs_diff"] <= 1e-5
    # The exported reward model ranks actions by the log's true success rates.
    nba = manifest.models["nba"]
    x = np.hstack([np.repeat(log.x[:200], len(ACTIONS), axis=0),
                   np.tile(np.eye(len(ACTIONS), dtype=np.float32), (200, 1))])  # fmt: skip
    scores = graphs.predictor(version_dir / nba.path, nba.output)(x).reshape(200, len(ACTIONS))
    assert int(np.argmax(scores.mean(axis=0))) == int(np.argmax(P_SUCCESS))
    assert np.corrcoef(scores.mean(axis=0), P_SUCCESS)[0, 1] > 0.9
