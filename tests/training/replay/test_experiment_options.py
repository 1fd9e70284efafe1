"""The replay's experiment options: arms, effects and drift parsed; an injected effect
moves the true success probability by exactly that much."""

from __future__ import annotations

import numpy as np
import pytest

from training.replay.drift import Drift, parse_drift
from training.replay.experiment import parse_effects, parse_experiment
from training.replay.population import Population
from training.replay.world import World


def test_experiment_and_effect_specs() -> None:
    exp = parse_experiment("a=v1:0.9,control=v2:0.1", ["v3"], salt="s")
    assert [(a.name, a.version, a.weight, a.control) for a in exp.arms] == [
        ("a", "v1", 0.9, False),
        ("control", "v2", 0.1, True),
    ]
    assert exp.shadow == ("v3",) and exp.salt == "s"
    assert parse_experiment("x=v1,y=v2").control.name == "x"  # no "control": the first
    assert parse_effects("treatment=0.05, b=-0.02") == {"treatment": 0.05, "b": -0.02}
    with pytest.raises(ValueError):
        parse_effects("treatment")
    with pytest.raises(ValueError):
        parse_experiment("a=v1,a=v2")  # arm names are unique


def test_drift_spec() -> None:
    at, kwargs = parse_drift("at=500,sentiment=-0.5,monthly_spend=2,archetype2=3")
    assert at == 500
    drift = Drift(after_s=0, **kwargs)
    assert drift.sentiment_shift == -0.5
    assert dict(drift.feature_scale) == {"monthly_spend": 2.0}
    assert dict(drift.archetype_weight) == {2: 3.0}
    with pytest.raises(ValueError):
        parse_drift("sentiment=-0.5")  # no at=


@pytest.mark.parametrize("delta", [0.1, -0.1])
def test_an_injected_effect_moves_success_by_delta(population: Population, delta: float) -> None:
    turns = World(population, seed=5).turns(20_000)
    actions = np.argmax(np.where(turns.eligible, turns.p_success, -1), axis=1)
    boost = np.where(np.arange(len(turns)) % 2 == 0, delta, 0.0)
    drawn = turns.draw_outcomes(actions, np.random.default_rng(2), boost=boost)
    success = drawn.resolved & ~drawn.escalated
    on = boost != 0
    p = turns.p_success[np.arange(len(turns)), actions]
    expected = np.clip(p + boost, 0, 1)
    for rows in (on, ~on):
        se = np.sqrt(expected[rows] * (1 - expected[rows])).mean() / np.sqrt(rows.sum())
        assert abs(success[rows].mean() - expected[rows].mean()) < 4 * se
    assert turns.true_value(actions, boost) == pytest.approx(expected.mean())
    assert np.allclose(drawn.reward, success)  # the default reward: resolved, not escalated
