"""Sample-ratio mismatch: a broken split is caught, a correct one is not flagged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.experiments.srm import (
    SRM_THRESHOLD,
    WeightsError,
    chi_square,
    parse_weights,
    srm_test,
)

TOTAL = 10_000


def _flag_share(split: list[float], weights: list[float], runs: int, seed: int) -> float:
    counts = np.random.default_rng(seed).multinomial(TOTAL, split, size=runs)
    _, p = chi_square(counts, np.array(weights))
    return float((p < SRM_THRESHOLD).mean())


def test_a_55_45_split_is_caught_every_time() -> None:
    assert _flag_share([0.55, 0.45], [1, 1], runs=500, seed=1) == 1.0


def test_a_correct_split_is_almost_never_flagged() -> None:
    share = _flag_share([0.5, 0.5], [1, 1], runs=5000, seed=2)
    assert share <= 0.005  # expected 0.001; ≥ 99.5 % of correct runs pass
    # and p is uniform under the null (the test is calibrated, not just lenient)
    counts = np.random.default_rng(3).multinomial(TOTAL, [0.5, 0.5], size=5000)
    _, p = chi_square(counts, np.array([1.0, 1.0]))
    assert abs((p < 0.05).mean() - 0.05) < 0.015


def test_unequal_weights_and_three_arms() -> None:
    assert _flag_share([0.2, 0.4, 0.4], [1, 2, 2], runs=1000, seed=4) <= 0.005
    assert _flag_share([1 / 3, 1 / 3, 1 / 3], [1, 2, 2], runs=200, seed=5) == 1.0
    result = srm_test({"a": 5500, "b": 4500}, {"a": 1, "b": 1})
    assert result["mismatch"] and result["chi2"] == pytest.approx(100.0)
    assert result["expected"] == {"a": 5000.0, "b": 5000.0}


def test_an_arm_with_weight_but_no_decisions_is_a_mismatch() -> None:
    result = srm_test({"a": 5000, "b": 5000}, {"a": 1, "b": 1, "c": 1})
    assert result["observed"]["c"] == 0 and result["mismatch"]
    with pytest.raises(WeightsError, match="no weight: c"):
        srm_test({"a": 10, "b": 10, "c": 3}, {"a": 1, "b": 1})


def test_parse_weights(tmp_path: Path) -> None:
    assert parse_weights("control=0.5, treatment=0.5") == {"control": 0.5, "treatment": 0.5}
    spec = tmp_path / "exp.yaml"
    spec.write_text("arms:\n  - {name: control, weight: 9}\n  - {name: b, weight: 1}\n")
    assert parse_weights(str(spec)) == {"control": 9.0, "b": 1.0}
    (tmp_path / "exp.json").write_text('{"a": 1, "b": 3}')
    assert parse_weights(str(tmp_path / "exp.json")) == {"a": 1.0, "b": 3.0}
    for bad in ("control", "a=1", "a=x,b=1", "a=-1,b=1"):
        with pytest.raises(WeightsError):
            parse_weights(bad)
