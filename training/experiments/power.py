"""Sample size and minimum detectable effect, for the fixed-horizon and the sequential test.

Fixed horizon (two-sample z-test on a mean or a proportion, two-sided level α, power
1 - β, per-arm variances σ_A², σ_B², equal allocation)::

    n_fixed = (z_{1-α/2} + z_{1-β})² (σ_A² + σ_B²) / δ²        per arm

The mSPRT (:mod:`training.experiments.sequential`) pays for being always valid: at the
same n its rejection boundary ``h(V) = half-width of the confidence sequence`` is wider
than ``z_{1-α/2} √V``. The sample size quoted for it is the smallest n per arm whose
**final look alone** reaches the power::

    Φ((δ - h(V_n)) / √V_n) + Φ((-δ - h(V_n)) / √V_n) ≥ 1 - β,   V_n = (σ_A² + σ_B²) / n

Earlier looks can only add rejections, so the power of "significant at some look up to
n" is at least this: the quoted n is conservative for an experiment analysed daily
(tests/training/experiments/test_power.py measures it by simulation). The minimum
detectable effect at the current n solves the same equation for δ (the far tail
ignored): ``δ_min = h(V_n) + z_{1-β} √V_n`` (sequential), ``(z_{1-α/2} + z_{1-β}) √V_n``
(fixed horizon). References: Chow, Shao & Wang, *Sample Size Calculations in Clinical
Research* (2008) §3.2; Johari et al. (2022) §5 on the cost of always-valid inference.
"""

# ruff: noqa: RUF002  (Greek letters: the formulas' own symbols)

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

from training.experiments.sequential import half_width

POWER = 0.8
_MAX_N = 10**12


def fixed_n(delta: float, var_a: float, var_b: float, alpha: float, power: float = POWER) -> float:
    """Per-arm n of the fixed-horizon two-sided z-test (inf when δ = 0)."""
    if delta == 0 or not math.isfinite(delta):
        return math.inf
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    return math.ceil(z * z * (var_a + var_b) / (delta * delta))


def sequential_power(delta: float, var: float, tau: float, alpha: float) -> float:
    """Power of the mSPRT's look at an estimate of variance ``var`` (true effect δ)."""
    if var <= 0:
        return 1.0 if delta else 0.0
    h, sd = float(half_width(np.asarray(var), tau, alpha)), math.sqrt(var)
    return float(norm.cdf((abs(delta) - h) / sd) + norm.cdf((-abs(delta) - h) / sd))


def sequential_n(
    delta: float, var_a: float, var_b: float, tau: float, alpha: float, power: float = POWER
) -> float:
    """Smallest per-arm n at which the mSPRT's final look has ``power`` (bisection)."""
    total = var_a + var_b
    if delta == 0 or not math.isfinite(delta) or total <= 0:
        return math.inf
    lo, hi = 1, 2
    while sequential_power(delta, total / hi, tau, alpha) < power:
        lo, hi = hi, hi * 2
        if hi > _MAX_N:
            return math.inf
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if sequential_power(delta, total / mid, tau, alpha) >= power:
            hi = mid
        else:
            lo = mid
    return float(hi)


def mde(var: float, tau: float, alpha: float, power: float = POWER) -> dict[str, float]:
    """Minimum detectable |δ| at the current variance of the estimate, both tests."""
    if var <= 0 or not math.isfinite(var):
        return {"fixed": math.nan, "sequential": math.nan}
    sd = math.sqrt(var)
    zb = float(norm.ppf(power))
    return {
        "fixed": (float(norm.ppf(1 - alpha / 2)) + zb) * sd,
        "sequential": float(half_width(np.asarray(var), tau, alpha)) + zb * sd,
    }
