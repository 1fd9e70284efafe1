"""Off-policy value of an experiment's shadow versions, from their own logged rows.

A shadow version scores every request without acting; the server logs one extra row per
served decision (``modelio.logrecords``: arm ``shadow:<version>``, id ``<served
id>:shadow:<version>``) with the shadow policy's full ``probabilities`` and its reward
model's ``scores`` of every action. Joined on the served id with the served decision's
logged action, propensity and reward (the feedback join's rows, ``ArmSums.dataset``),
that is everything IPS, SNIPS and DR need (:func:`training.feedback.offpolicy.estimate`,
:mod:`training.fit.ope`): π = the logged shadow probabilities, q̂ = its logged scores. No
model folder is read: the estimate is of what the shadow computed in production.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from modelio.logrecords import SHADOW_ARM_PREFIX
from modelio.vocab import ACTIONS
from training.feedback.offpolicy import estimate

_ID_MARK = ":" + SHADOW_ARM_PREFIX


def shadow_versions(decisions: pa.Table) -> list[str]:
    """Versions with shadow rows in the decision log, sorted."""
    arms = set(decisions.column("arm").to_pylist()) if decisions.num_rows else set()
    shadows = [a for a in arms if a.startswith(SHADOW_ARM_PREFIX)]
    return sorted(a.removeprefix(SHADOW_ARM_PREFIX) for a in shadows)


def shadow_arrays(decisions: pa.Table, served: pa.Table, version: str) -> dict[str, np.ndarray]:
    """π, q̂ (n x 7, the shadow's logged rows) and the served action, propensity and reward
    of every served row in ``served`` that has a shadow row of ``version``."""
    arm = pa.array([a == SHADOW_ARM_PREFIX + version for a in decisions.column("arm").to_pylist()])
    rows = decisions.filter(arm).select(["decision_id", "probabilities", "scores"]).to_pylist()
    by_served: dict[str, dict[str, Any]] = {}
    for row in rows:
        by_served.setdefault(row["decision_id"].split(_ID_MARK, 1)[0], row)
    base = served.select(["decision_id", "action_index", "propensity", "reward"]).to_pylist()
    hits = [(b, by_served[b["decision_id"]]) for b in base if b["decision_id"] in by_served]
    k = len(ACTIONS)
    pi = np.array([s["probabilities"] for _, s in hits], dtype=np.float64).reshape(-1, k)
    q_hat = np.array([s["scores"] for _, s in hits], dtype=np.float64).reshape(-1, k)
    return {
        "pi": pi,
        "q_hat": q_hat,
        "actions": np.array([b["action_index"] for b, _ in hits], dtype=np.int64),
        "propensity": np.array([b["propensity"] for b, _ in hits], dtype=np.float64),
        "reward": np.array([b["reward"] for b, _ in hits], dtype=np.float64),
    }


def logged_shadow_estimates(
    decisions: pa.Table, served: pa.Table, resamples: int, seed: int
) -> dict[str, dict[str, Any]]:
    """IPS / SNIPS / DR with bootstrap intervals of every shadow version in the log."""
    out: dict[str, dict[str, Any]] = {}
    for version in shadow_versions(decisions):
        arrays = shadow_arrays(decisions, served, version)
        if len(arrays["actions"]) < 2:
            out[version] = {"skipped": "fewer than two rewarded decisions with a shadow row"}
            continue
        out[version] = {"source": "logged shadow rows", **estimate(arrays, resamples, seed)}
    return out
