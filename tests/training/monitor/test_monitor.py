"""Injected drift is detected in the first window after the shift; no drift, no alarm."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modelio.context import ESCALATION_INPUTS
from modelio.manifest import Manifest
from training.monitor.analyze import analyze
from training.monitor.fit import SCORE_NAMES
from training.monitor.windows import WindowSpec
from training.replay.drift import Drift
from training.replay.world import World

from .conftest import PER_WINDOW, SHIFT_WINDOW, WINDOWS, Setup, tables

SPEC = WindowSpec(rows=PER_WINDOW)


def test_manifest_keeps_training_distributions(setup: Setup) -> None:
    dist = setup.manifest.distributions
    assert list(dist.inputs) == list(ESCALATION_INPUTS)
    assert set(dist.scores) == set(SCORE_NAMES)
    assert dist.inputs["has_profile"].kind == "categorical"
    assert dist.inputs["monthly_spend"].kind == "numeric"
    assert sum(dist.action_mix.values()) == pytest.approx(1.0, abs=1e-4)
    assert 0 < dist.rates["escalation"] < 1 and dist.rows > 0
    old = setup.manifest.model_dump(mode="json", exclude={"distributions"})
    assert not Manifest.model_validate(old).distributions.inputs  # old manifests still load


def test_no_drift_leaves_the_world_unchanged(setup: Setup) -> None:
    late = Drift(after_s=setup.population.snapshot_s + 10**8, sentiment_shift=-0.5)
    plain = World(setup.population, seed=3).turns(500)
    drifted = World(setup.population, seed=3, drift=late).turns(500)
    assert np.array_equal(plain.customer_ids, drifted.customer_ids)
    for key, values in plain.state.items():
        assert np.array_equal(values, drifted.state[key], equal_nan=True), key


@pytest.mark.parametrize("reference", ["training", "baseline"])
def test_sentiment_shift_is_flagged_in_the_first_window_after_it(
    setup: Setup, reference: str
) -> None:
    drift = Drift(after_s=setup.shift_s, sentiment_shift=-0.5)
    result = analyze(*tables(setup.log(drift)), setup.manifest, SPEC, reference=reference)
    sentiment = result.psi["sentiment"]
    assert max(sentiment[:SHIFT_WINDOW]) < 0.1
    assert min(sentiment[SHIFT_WINDOW:]) > 0.2
    first = result.windows[SHIFT_WINDOW]["start"]
    flagged = {(a["kind"], a["name"]) for a in result.alarms if a["window"] == first}
    assert ("psi", "sentiment") in flagged
    assert ("p_chart", "escalation_rate") in flagged  # the truth escalates more
    assert not [a for a in result.alarms if a["window"] < first and a["name"] == "sentiment"]


def test_spend_doubling_is_flagged_on_monthly_spend(setup: Setup) -> None:
    drift = Drift(after_s=setup.shift_s, feature_scale={"monthly_spend": 2.0})
    result = analyze(*tables(setup.log(drift)), setup.manifest, SPEC, reference="baseline")
    spend = result.psi["monthly_spend"]
    assert max(spend[:SHIFT_WINDOW]) < 0.1 and min(spend[SHIFT_WINDOW:]) > 0.2
    first = result.windows[SHIFT_WINDOW]["start"]
    assert {"window": first, "kind": "psi", "name": "monthly_spend"}.items() <= next(
        a for a in result.alarms if a["name"] == "monthly_spend"
    ).items()


def test_a_store_that_is_not_refreshed_is_flagged_on_the_history_age(setup: Setup) -> None:
    """Eight weeks of turns against the one materialized snapshot: the served history
    ages a week per window, and only ``days_since_last_ticket`` says so."""
    result = analyze(*tables(setup.log(None)), setup.manifest, SPEC, reference="baseline")
    assert {a["name"] for a in result.alarms} == {"days_since_last_ticket"}
    assert min(a["window"] for a in result.alarms) > result.windows[0]["start"]


def test_command_writes_charts_report_and_json(
    setup: Setup, drifted_log_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    cmd = [sys.executable, "-m", "training", "monitor", "--log-dir", str(drifted_log_dir)]
    cmd += ["--models-dir", str(setup.models_dir), "--window", str(PER_WINDOW)]
    done = subprocess.run([*cmd, "--out", str(out), "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert len(summary["windows"]) == WINDOWS and len(summary["psi"]["sentiment"]) == WINDOWS
    assert {"window", "kind", "name", "value", "limit"} <= set(summary["alarms"][0])
    assert (out / "monitor.md").read_text().startswith("# Monitoring report")
    assert (out / "psi_heatmap.png").stat().st_size > 0
    assert (out / "pchart_escalation_rate.png").stat().st_size > 0
    missing = subprocess.run([*cmd[:4], "--log-dir", str(tmp_path / "none")], capture_output=True)
    assert missing.returncode == 2 and b"no decision log" in missing.stderr


@pytest.mark.parametrize("reference", ["training", "baseline"])
def test_no_drift_control_raises_no_alarm(setup: Setup, reference: str) -> None:
    """With the history inputs joined as served (strictly before each ticket) and the
    training reference taken from the latest training slice, a stationary world with a
    fresh store matches training: no PSI alarm on any input or score, no p-chart alarm."""
    for seed in (7, 8):
        log = setup.fresh_store_log(None, seed)
        result = analyze(*tables(log), setup.manifest, SPEC, reference=reference)
        assert len(result.windows) == WINDOWS
        assert result.alarms == [], seed
        for name in ("has_history", "tickets_30d", "days_since_last_ticket", "last_csat"):
            assert max(result.psi[name]) < 0.2, name


def test_drift_against_the_training_reference_is_flagged_in_its_first_window(
    setup: Setup,
) -> None:
    drift = Drift(after_s=setup.population.snapshot_s, sentiment_shift=-0.5)
    result = analyze(*tables(setup.fresh_store_log(drift)), setup.manifest, SPEC)
    sentiment = result.psi["sentiment"]
    assert max(sentiment[:SHIFT_WINDOW]) < 0.1 and min(sentiment[SHIFT_WINDOW:]) > 0.2
    first = result.windows[SHIFT_WINDOW]["start"]
    assert min(a["window"] for a in result.alarms) == first  # nothing before the shift
    flagged = {(a["kind"], a["name"]) for a in result.alarms if a["window"] == first}
    assert {("psi", "sentiment"), ("p_chart", "escalation_rate")} <= flagged
