"""PSI, bins, p-chart limits and windows on tiny hand-checked examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelio.distributions import Binned, fit_binned
from training.monitor.charts import baseline_rate, p_chart, p_limits
from training.monitor.psi import psi, psi_of, status
from training.monitor.windows import WindowSpec, assign, parse_window


def test_psi_is_zero_for_identical_distributions() -> None:
    shares = np.array([0.1, 0.2, 0.3, 0.4])
    assert psi(shares, shares) == 0.0
    binned = fit_binned(np.arange(1000.0))
    assert psi_of(binned, np.arange(1000.0)) == pytest.approx(0.0, abs=1e-12)


def test_psi_matches_a_hand_computation() -> None:
    # (0.7 - 0.5) ln(0.7/0.5) + (0.3 - 0.5) ln(0.3/0.5) = 0.2 ln 1.4 + 0.2 ln(5/3)
    expected = 0.2 * math.log(1.4) + 0.2 * math.log(5 / 3)
    assert psi(np.array([0.5, 0.5]), np.array([0.7, 0.3])) == pytest.approx(expected)
    assert expected == pytest.approx(0.16946, abs=1e-5)
    assert status(expected) == "watch" and status(0.25) == "drift" and status(0.05) == "ok"


def test_binary_input_is_categorical_and_unseen_values_go_to_other() -> None:
    binned = fit_binned(np.array([0.0, 1.0, 1.0, 1.0]))
    assert binned.kind == "categorical" and binned.values == [0.0, 1.0]
    assert binned.shares == [0.25, 0.75, 0.0]
    assert binned.shares_of(np.array([0.0, 2.0])).tolist() == [0.5, 0.0, 0.5]


def test_numeric_input_gets_decile_bins() -> None:
    binned = fit_binned(np.random.default_rng(0).normal(size=10_000))
    assert binned.kind == "numeric" and len(binned.edges) == 9
    assert np.allclose(binned.shares, 0.1, atol=1e-3)


def test_invalid_bins_are_rejected() -> None:
    with pytest.raises(ValueError, match="shares"):
        Binned(kind="numeric", edges=[1.0], shares=[1.0])
    with pytest.raises(ValueError, match="increasing"):
        Binned(kind="numeric", edges=[2.0, 1.0], shares=[0.2, 0.3, 0.5])


def test_p_chart_limits_match_the_formula() -> None:
    n = np.array([100, 400, 2500])
    lower, upper = p_limits(0.2, n)
    half = 3 * np.sqrt(0.2 * 0.8 / n)
    assert np.allclose(lower, 0.2 - half) and np.allclose(upper, 0.2 + half)
    assert p_limits(0.01, np.array([10]))[0][0] == 0.0  # clipped at 0


def test_p_chart_flags_out_of_control_windows() -> None:
    hits, n = np.array([20, 21, 19, 40]), np.array([100, 100, 100, 100])
    center = baseline_rate(hits, n, 3)
    assert center == pytest.approx(0.2)
    chart = p_chart("rate", hits, n, center)
    assert chart.out_of_control.tolist() == [False, False, False, True]


def test_windows() -> None:
    assert parse_window("1h") == WindowSpec(seconds=3600)
    assert parse_window("2000") == WindowSpec(rows=2000)
    with pytest.raises(ValueError, match="--window"):
        parse_window("soon")
    hour = 3_600_000_000
    index, starts = assign(np.array([0, 10, hour + 1, 3 * hour]), WindowSpec(seconds=3600))
    assert index.tolist() == [0, 0, 1, 2] and starts.tolist() == [0, hour, 3 * hour]
    index, _ = assign(np.array([5, 1, 3, 2]), WindowSpec(rows=2))
    assert index.tolist() == [1, 0, 1, 0]
