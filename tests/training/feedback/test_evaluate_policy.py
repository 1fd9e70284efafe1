"""evaluate-policy on a synthetic log whose candidate value is known by construction:
uniform logging policy, rewards ~ Bernoulli(P_SUCCESS[action]) whatever the context, so
the true value of any policy π is mean_i Σ_a π(a|x_i) P_SUCCESS[a]."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from modelio.manifest import load_manifest, write_manifest
from tests.support.candidate import P_SUCCESS, make_version, synthetic_log
from training.commands import evaluate_policy
from training.feedback.dataset import DatasetError
from training.feedback.logged import legacy_held_out
from training.feedback.offpolicy import candidate_arrays, estimate, evaluate_candidate

from ..conftest import Trained

N = 3000


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("evaluate_policy")
    log = synthetic_log(N, seed=5)
    make_version(root / "models", "cand-greedy", log, epsilon=0.0)
    make_version(root / "models", "cand-explore", log, epsilon=0.3)
    path = root / "bandit.parquet"
    pq.write_table(log.dataset, path)
    return root / "models", path


@pytest.mark.parametrize("version", ["cand-greedy", "cand-explore"])
def test_estimates_cover_the_known_truth(world: tuple[Path, Path], version: str) -> None:
    models, path = world
    arrays = candidate_arrays(models / version, pq.read_table(path))
    truth = float(np.mean(arrays["pi"] @ P_SUCCESS))
    report = estimate(arrays, resamples=300, seed=1)
    for key in ("ips", "snips", "dr"):
        lo, hi = report[key]["ci"]
        assert lo <= truth <= hi, (key, truth, report[key])
        assert lo <= report[key]["estimate"] <= hi
    # The learned policy beats uniform logging, which is worth mean(P_SUCCESS).
    assert truth > P_SUCCESS.mean() + 0.1
    lo, hi = report["logging_ci"]
    assert lo <= P_SUCCESS.mean() <= hi
    assert 0 < report["ess"] <= N


def test_command_json(world: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    models, path = world
    parser = argparse.ArgumentParser()
    evaluate_policy.configure(parser)
    argv = ["--candidate", "cand-greedy", "--models-dir", str(models), "--dataset", str(path)]
    assert evaluate_policy.run(parser.parse_args([*argv, "--json", "--resamples", "50"])) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"candidate", "n", "logging_value", "logging_ci", "ips", "snips", "dr", "ess"} <= set(
        report
    )
    assert report["candidate"] == "cand-greedy" and report["n"] == N
    assert set(report["dr"]) == {"estimate", "ci"}
    bad = parser.parse_args(["--candidate", "nope", "--models-dir", str(models)])
    assert evaluate_policy.run(bad) == 2


def test_a_candidate_with_conversation_inputs_needs_them_logged(
    world: tuple[Path, Path], trained: Trained
) -> None:
    """The trained test version takes the conversation inputs; the synthetic log (a
    version without them) does not hold them: a clear refusal, not a shape error."""
    _, path = world
    with pytest.raises(DatasetError, match="conversation inputs"):
        candidate_arrays(trained.result.version_dir, pq.read_table(path))


def test_a_version_from_before_cross_fitting_keeps_to_its_held_out_buckets(
    world: tuple[Path, Path], tmp_path: Path
) -> None:
    """A version trained ``--from-log`` with a held-out test share (manifest
    ``metrics.nba.held_out``) is scored on those buckets only, not on its training rows."""
    models, path = world
    legacy = tmp_path / "legacy"
    shutil.copytree(models / "cand-greedy", legacy)
    manifest = load_manifest(legacy)
    metrics = {**manifest.metrics, "nba": {"held_out": "decision-id buckets 85-99"}}
    write_manifest(legacy, manifest.model_copy(update={"metrics": metrics}))
    dataset = pq.read_table(path)
    report = evaluate_candidate(legacy, dataset, resamples=20)
    assert report["basis"] == "held-out buckets"
    assert report["n"] == legacy_held_out(dataset).num_rows
    assert 0.10 * N < report["n"] < 0.20 * N
    assert evaluate_candidate(models / "cand-greedy", dataset, resamples=20)["n"] == N
