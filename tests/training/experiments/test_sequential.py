"""mSPRT under daily peeking: A/A experiments stay at alpha; a naive z-test does not."""

from __future__ import annotations

import numpy as np

from tests.support.experiment_sim import bernoulli_sums
from training.experiments import sequential

RUNS, DAYS, PER_DAY, RATE, ALPHA, TAU = 1000, 14, 500, 0.3, 0.05, sequential.DEFAULT_TAU


def _aa(seed: int) -> tuple[np.ndarray, np.ndarray]:
    n, s, ss = bernoulli_sums(np.random.default_rng(seed), RUNS, (RATE, RATE), PER_DAY, DAYS)
    return sequential.diff_from_sums(n, s, ss)


def test_aa_peeked_daily_stays_within_alpha_but_a_naive_z_test_does_not() -> None:
    theta, var = _aa(seed=20260302)
    ever_av = (sequential.always_valid_p(theta, var, TAU) <= ALPHA).any(axis=-1).mean()
    ever_naive = (sequential.naive_z_p(theta, var) <= ALPHA).any(axis=-1).mean()
    print(f"A/A ever significant, {RUNS} runs x {DAYS} daily looks: "
          f"always-valid {ever_av:.3f}, naive z {ever_naive:.3f}")  # fmt: skip
    assert ever_av <= 0.06
    assert ever_naive > 0.10  # the contrast: peeking inflates a fixed-horizon test
    # one look at the end is fine for the naive test (the bug is the peeking, not the test)
    assert abs((sequential.naive_z_p(theta, var)[:, -1] <= ALPHA).mean() - ALPHA) < 0.02


def test_confidence_sequence_covers_zero_whenever_p_is_above_alpha() -> None:
    theta, var = _aa(seed=7)
    lo, hi = sequential.confidence_sequence(theta, var, TAU, ALPHA)
    p = sequential.always_valid_p(theta, var, TAU)
    excluded = (lo > 0) | (hi < 0)
    assert (excluded == (p <= ALPHA)).mean() > 0.999  # duality (up to the intersection)
    assert excluded.any(axis=-1).mean() <= 0.06
    assert (np.diff(hi - lo, axis=-1) <= 1e-12).all()  # running intersection never widens


def test_one_arm_band_covers_the_true_mean() -> None:
    n, s, ss = bernoulli_sums(np.random.default_rng(3), RUNS, (RATE, RATE), PER_DAY, DAYS)
    mean, var = sequential.mean_var(n[:, 0], s[:, 0], ss[:, 0])
    lo, hi = sequential.confidence_sequence(mean, var / n[:, 0], TAU, ALPHA)
    assert ((lo > RATE) | (hi < RATE)).any(axis=-1).mean() <= 0.06


def test_mixture_ratio_matches_the_closed_form() -> None:
    # Λ for one look, by direct integration of the normal likelihood ratio over N(0, τ²)
    theta_hat, var, tau = 0.03, 1e-4, 0.05
    grid = np.linspace(-0.5, 0.5, 200_001)
    prior = np.exp(-(grid**2) / (2 * tau**2)) / np.sqrt(2 * np.pi * tau**2)
    ratio = np.exp((2 * grid * theta_hat - grid**2) / (2 * var))
    integral = float(np.sum(prior * ratio) * (grid[1] - grid[0]))
    closed = float(np.exp(sequential.log_mixture_lr(np.array(theta_hat), np.array(var), tau)))
    assert abs(integral / closed - 1) < 1e-6


def test_real_effect_is_found_and_the_interval_covers_it() -> None:
    n, s, ss = bernoulli_sums(np.random.default_rng(11), RUNS, (0.30, 0.33), PER_DAY, DAYS)
    theta, var = sequential.diff_from_sums(n, s, ss)
    lo, hi = sequential.confidence_sequence(theta, var, TAU, ALPHA)
    assert ((lo > 0.03) | (hi < 0.03)).any(axis=-1).mean() <= 0.06
    assert (sequential.always_valid_p(theta, var, TAU)[:, -1] <= ALPHA).mean() > 0.5
