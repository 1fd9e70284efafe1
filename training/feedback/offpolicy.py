"""Off-policy value of a candidate model version on the logged-bandit dataset.

The candidate's ONNX graphs (escalation risk, reward model) are run with ONNX Runtime
(:func:`training.export.graphs.predictor`, as ``evaluate`` does) on the logged inputs;
its action distribution is :func:`modelio.policy.action_probabilities` under the
candidate's frozen policy (:func:`training.fit.nba.policy_matrix`), and IPS, SNIPS and
DR come from :func:`training.fit.ope.ope_estimates`. Intervals are percentile
bootstraps over logged rows (seeded), beside the logging policy's observed mean reward.

A candidate trained ``--from-log`` is not scored on the rows it learnt from: on its own
training rows its reward model flatters the actions it picks, and DR inherits that
optimism. On the rows logged after its training data (``metrics.nba.logged_through``)
it is scored as any candidate; for the rows it learnt from, the estimate is the one
cross-fitted at training (:mod:`training.feedback.crossfit`, in its manifest), reported
as ``training_estimate``, and as the report's estimate when no row is newer
(``basis``: ``"unseen rows"`` or ``"cross-fitted at training"``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from modelio.manifest import load_manifest
from training.data import inputs
from training.export import graphs
from training.feedback.dataset import DatasetError
from training.feedback.logged import legacy_held_out, logged_after, policy_data
from training.fit import nba, ope

RESAMPLES, SEED, LEVEL = 500, 7, 0.95
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
    data = replace(data, inputs=layout)
    risk = np.asarray(
        run["escalation"](inputs.escalation_matrix(data.encoded, layout)), dtype=np.float64
    )
    q_hat = nba.score_all_actions(run["nba"], data)
    pi = nba.policy_matrix(q_hat, risk.reshape(-1), data, manifest.policy)
    return {
        "pi": pi,
        "q_hat": q_hat,
        "actions": data.actions,
        "propensity": data.propensity,
        "reward": data.reward,
    }


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


def evaluate_candidate(
    version_dir: Path, dataset: pa.Table, resamples: int = RESAMPLES, seed: int = SEED
) -> dict[str, Any]:
    """The ``evaluate-policy`` report of ``version_dir`` on ``dataset``."""
    metrics = load_manifest(version_dir).metrics.get("nba", {})
    report: dict[str, Any] = {"candidate": version_dir.name, "basis": "logged rows"}
    if metrics.get("logged_through"):
        trained = from_manifest(metrics)
        report["training_estimate"] = trained
        dataset = logged_after(dataset, metrics["logged_through"])
        if dataset.num_rows == 0:
            report.update(trained, basis="cross-fitted at training")
            return report
        report["basis"] = "unseen rows"
    elif metrics.get("held_out"):  # trained before cross-fitting: its test buckets
        dataset, report["basis"] = legacy_held_out(dataset), "held-out buckets"
    if dataset.num_rows == 0:
        raise DatasetError("the logged dataset has no rows to evaluate on")
    report.update(estimate(candidate_arrays(version_dir, dataset), resamples, seed))
    return report
