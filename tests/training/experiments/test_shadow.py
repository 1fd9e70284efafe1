"""Shadow versions in an experiment log: no arm of their own, and an off-policy estimate
from their logged rows (π = the shadow's probabilities, q̂ = its scores)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from modelio.logrecords import DECISIONS, OUTCOMES, read_log
from modelio.reward import RewardConfig
from modelio.vocab import ACTIONS
from tests.support.decision_logs import T0, decision, outcome, write_part
from training.experiments.data import arm_sums
from training.experiments.shadow import logged_shadow_estimates, shadow_arrays, shadow_versions

N = 400


def _logs(tmp_path: Path) -> Path:
    """Uniform logging over 7 actions; reward 1 iff action 0; the shadow always picks 0."""
    rng = np.random.default_rng(1)
    served, shadows, outcomes = [], [], []
    for i in range(N):
        d = f"d{i}"
        action = int(rng.integers(len(ACTIONS)))
        served.append({**decision(d, action_index=action, customer_id=f"C{i}"),
                       "arm": ("control", "treatment")[i % 2]})  # fmt: skip
        pi = [1.0] + [0.0] * (len(ACTIONS) - 1)
        row = decision(f"{d}:shadow:v9", model_version="v9", customer_id=f"C{i}")
        shadows.append({**row, "arm": "shadow:v9", "probabilities": pi,
                        "scores": [0.9] + [0.1] * (len(ACTIONS) - 1)})  # fmt: skip
        outcomes.append(
            {**outcome(d, T0 + timedelta(minutes=1)), "resolved": action == 0, "escalated": False}
        )
    write_part(tmp_path, DECISIONS, [*served, *shadows], "part-a")
    write_part(tmp_path, OUTCOMES, outcomes, "part-a")
    return tmp_path


def test_shadow_rows_are_no_arm_and_are_estimated(tmp_path: Path) -> None:
    logs = _logs(tmp_path)
    decisions, outcomes = read_log(logs, DECISIONS), read_log(logs, OUTCOMES)
    sums = arm_sums(decisions, outcomes, lambda _: RewardConfig(), T0 + timedelta(days=1))
    assert sums.arms == ["control", "treatment"]
    assert sums.decisions.tolist() == [N // 2, N // 2]
    assert shadow_versions(decisions) == ["v9"]
    arrays = shadow_arrays(decisions, sums.dataset, "v9")
    assert len(arrays["actions"]) == N and arrays["pi"].shape == (N, len(ACTIONS))
    est = logged_shadow_estimates(decisions, sums.dataset, resamples=100, seed=3)["v9"]
    assert est["source"] == "logged shadow rows" and est["n"] == N
    # the shadow's true value is 1 (it always takes the one action that succeeds)
    for key in ("ips", "snips", "dr"):
        lo, hi = est[key]["ci"]
        assert lo <= 1.0 <= hi or est[key]["estimate"] == pytest.approx(1.0), key
    assert est["dr"]["estimate"] == pytest.approx(1.0, abs=0.1)
    assert est["logging_value"] == pytest.approx(1 / len(ACTIONS), abs=0.05)
