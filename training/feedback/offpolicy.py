"""Off-policy value of a candidate model version on the logged-bandit dataset.

The candidate's ONNX graphs (escalation risk, reward model) are run with ONNX Runtime
(:func:`training.export.graphs.predictor`, as ``evaluate`` does) on the logged inputs;
its action distribution is :func:`modelio.policy.action_probabilities` under the
candidate's frozen policy (:func:`training.fit.nba.policy_matrix`), and IPS, SNIPS and
DR come from :func:`training.fit.ope.ope_estimates`. Intervals are percentile
bootstraps over logged rows (seeded), beside the logging policy's observed mean reward.

A candidate trained ``--from-log`` is not scored on the rows it learnt from: on its own
training rows its reward model flatters the actions it picks, and DR inherits that
optimism. Once MIN_UNSEEN_ROWS rows were logged after its training data
(``metrics.nba.logged_through``) it is scored on those as any candidate (the traffic
since: a time tail, but of the traffic it will meet next, not a biased slice of the log
it is judged on); until then the report is the estimate cross-fitted at training
(:mod:`training.feedback.crossfit`, in its manifest; ``--resamples`` and ``--seed`` do
not apply), always also given as ``training_estimate``. ``basis`` says which.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from modelio.manifest import load_manifest
from training.export import graphs
from training.feedback.dataset import DatasetError
from training.feedback.logged import legacy_held_out, logged_after, policy_data
from training.fit import nba, ope

RESAMPLES, SEED, LEVEL = 500, 7, 0.95
#: Rows logged after a ``--from-log`` version's training data needed to score it on them.
MIN_UNSEEN_ROWS = 500
ESTIMATORS = ("ips", "snips", "dr")


def candidate_arrays(version_dir: Path, dataset: pa.Table) -> dict[str, np.ndarray]:
    """π (n x 7), q̂ (n x 7) and the logged actions, propensities and rewards."""
    manifest = load_manifest(version_dir)
    run = {
        kind: graphs.predictor(
            version_dir / manifest.models[kind].path, manifest.models[kind].output
        )
        for kind in ("escalation", "nba")
    }
    data = policy_data(dataset, manifest.policy)
    layout = tuple(manifest.models["escalation"].inputs)
    missing = [name for name in layout if name not in data.inputs]
    if missing:
        raise DatasetError(
            f"{version_dir.name} takes inputs the log does not hold ({missing[0]}, ...: "
            "conversation inputs, logged only by a version that takes them)"
        )
    return nba.policy_arrays(
        replace(data, inputs=layout), run["escalation"], run["nba"], manifest.policy
    )


def estimate(
    arrays: dict[str, np.ndarray], resamples: int = RESAMPLES, seed: int = SEED
) -> dict[str, Any]:
    """Point estimates with bootstrap intervals, ESS and the logging policy's value."""
    point = ope.ope_estimates(**arrays)
    ci = ope.bootstrap(arrays, resamples, seed, LEVEL)
    out: dict[str, Any] = {
        "n": len(arrays["actions"]),
        "logging_value": point["logged_reward"],
        "logging_ci": ci["logged_reward"],
    }
    for key in ESTIMATORS:
        out[key] = {"estimate": point[key], "ci": ci[key]}
    out["ess"] = point["effective_sample_size"]
    out["max_weight"] = point["max_weight"]
    out["resamples"] = resamples
    return out


def from_manifest(metrics: dict[str, Any]) -> dict[str, Any]:
    """The cross-fitted estimate a version trained ``--from-log`` keeps in its manifest,
    in :func:`estimate`'s shape."""
    out: dict[str, Any] = {
        "n": metrics["n"],
        "logging_value": metrics["logged_reward"],
        "logging_ci": metrics["logged_reward_ci"],
    }
    for key in ESTIMATORS:
        out[key] = {"estimate": metrics[key], "ci": metrics[f"{key}_ci"]}
    out["ess"] = metrics["effective_sample_size"]
    out["max_weight"] = metrics["max_weight"]
    out["resamples"] = metrics["resamples"]
    out["logged_through"] = metrics["logged_through"]
    return out


def nba_metrics(version_dir: Path) -> dict[str, Any]:
    """The version's ``metrics.nba`` (what it was trained on, its estimate). Read without
    the files' sha256 check: :func:`candidate_arrays` makes it before any model runs."""
    return dict(load_manifest(version_dir, verify=False).metrics.get("nba", {}))


def unseen(version_dir: Path, dataset: pa.Table) -> tuple[pa.Table, str]:
    """The rows of ``dataset`` the version never learnt from, and what they are."""
    metrics = nba_metrics(version_dir)
    if metrics.get("logged_through"):
        return logged_after(dataset, metrics["logged_through"]), "unseen rows"
    if metrics.get("held_out"):  # trained before cross-fitting: its test buckets
        return legacy_held_out(dataset), "held-out buckets"
    return dataset, "logged rows"


def score_rows(
    version_dir: Path, dataset: pa.Table, resamples: int = RESAMPLES, seed: int = SEED
) -> dict[str, Any]:
    """The version's estimates on the rows of ``dataset`` it never learnt from
    (``basis`` says which); DatasetError when there are none."""
    rows, basis = unseen(version_dir, dataset)
    if rows.num_rows == 0:
        learnt = " (all of them are rows it was trained on)" if dataset.num_rows else ""
        raise DatasetError(f"the logged dataset has no rows to evaluate {version_dir.name} on"
                           f"{learnt}")  # fmt: skip
    report: dict[str, Any] = {"candidate": version_dir.name, "basis": basis}
    report.update(estimate(candidate_arrays(version_dir, rows), resamples, seed))
    return report


def evaluate_candidate(
    version_dir: Path, dataset: pa.Table, resamples: int = RESAMPLES, seed: int = SEED
) -> dict[str, Any]:
    """The ``evaluate-policy`` report of ``version_dir`` on ``dataset``: a version trained
    ``--from-log`` is scored on the rows logged since its training data once there are
    MIN_UNSEEN_ROWS of them; until then its cross-fitted estimate stands (fewer rows would
    bring back the variance cross-fitting removed). ``training_estimate``: that one."""
    metrics = nba_metrics(version_dir)
    if not metrics.get("logged_through"):
        return score_rows(version_dir, dataset, resamples, seed)
    trained = from_manifest(metrics)
    newer = logged_after(dataset, metrics["logged_through"]).num_rows
    if newer >= MIN_UNSEEN_ROWS:
        report = score_rows(version_dir, dataset, resamples, seed)
    else:
        report = {"candidate": version_dir.name, "basis": "cross-fitted at training", **trained}
    report["unseen_rows"] = newer
    report["training_estimate"] = trained
    return report
