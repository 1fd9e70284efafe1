"""The experiment file's schema and the arm assignment (a pure function)."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from modelio.experiment import (
    Experiment,
    ExperimentError,
    assign,
    bucket,
    load_experiment,
    remove_experiment,
    write_experiment,
)


def experiment(**update: Any) -> Experiment:
    data: dict[str, Any] = {
        "name": "exp",
        "salt": "s1",
        "arms": [
            {"name": "control", "version": "v1", "weight": 0.9, "control": True},
            {"name": "canary", "version": "v2", "weight": 0.1},
        ],
    }
    data.update(update)
    return Experiment.model_validate(data)


def test_same_customer_same_arm_and_salt_reshuffles() -> None:
    exp = experiment()
    ids = [f"C{i:07d}" for i in range(2000)]
    first = [exp.arm_of(c).name for c in ids]
    assert first == [exp.arm_of(c).name for c in ids]
    assert first == [Experiment.model_validate(exp.model_dump()).arm_of(c).name for c in ids]
    other = experiment(salt="s2")
    assert first != [other.arm_of(c).name for c in ids]
    assert all(0.0 <= bucket("s", c) < 1.0 for c in ids)


@pytest.mark.parametrize("weights", [(0.9, 0.1), (1.0, 1.0, 2.0), (99.0, 1.0), (3.0,)])
def test_weights_are_honoured_within_binomial_tolerance(weights: tuple[float, ...]) -> None:
    arms = [{"name": f"a{i}", "version": "v1", "weight": w} for i, w in enumerate(weights)]
    exp = experiment(arms=arms)
    cumulative = exp.cumulative()
    n = 100_000
    counts = Counter(assign(exp.salt, f"C{i:07d}", cumulative) for i in range(n))
    total = sum(weights)
    for i, w in enumerate(weights):
        p = w / total
        tolerance = 4.5 * math.sqrt(n * p * (1 - p)) + 1  # ~1e-5 false-alarm rate per arm
        assert abs(counts[i] - n * p) <= tolerance, (i, counts[i], n * p)


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"arms": []}, "at least 1"),
        ({"arms": [{"name": "a", "version": "v1", "weight": 0}]}, "greater than 0"),
        ({"arms": [{"name": "a", "version": "v1", "weight": -1}]}, "greater than 0"),
        (
            {"arms": [{"name": "a", "version": "v1", "weight": 1}] * 2},
            "arm names must be unique",
        ),
        (
            {
                "arms": [
                    {"name": "a", "version": "v1", "weight": 1, "control": True},
                    {"name": "b", "version": "v2", "weight": 1, "control": True},
                ]
            },
            "at most one arm",
        ),
        ({"arms": [{"name": "a", "version": "../x", "weight": 1}]}, "pattern"),
        ({"shadow": ["v3", "v3"]}, "shadow versions must be unique"),
        ({"shadow": ["a/b"]}, "pattern"),
        ({"extra": 1}, "Extra inputs"),
    ],
)
def test_invalid_experiments_are_refused(update: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        experiment(**update)


def test_file_round_trip(tmp_path: Path) -> None:
    assert load_experiment(tmp_path) is None
    exp = experiment(shadow=["v3"])
    write_experiment(tmp_path, exp)
    assert load_experiment(tmp_path) == exp
    assert exp.control.name == "control" and exp.versions() == ("v1", "v2", "v3")
    (tmp_path / "experiment.json").write_text('{"name": "x"}')
    with pytest.raises(ExperimentError, match="invalid experiment"):
        load_experiment(tmp_path)
    assert remove_experiment(tmp_path) and not remove_experiment(tmp_path)
