"""The experiment report: per-arm numbers, lift, SRM, sequential inference, sample size.

Fixed-horizon intervals are normal approximations at level 1 - α: a mean
``ȳ ± z_{1-α/2} s/√n``; a rate (escalations among matched outcomes) Wilson's interval;
the lift ``Δ = ȳ_B - ȳ_A ± z √(s_A²/n_A + s_B²/n_B)`` and the relative lift
``Δ / ȳ_A`` with the delta-method variance ``s_B²/(n_B ȳ_A²) + ȳ_B² s_A²/(n_A ȳ_A⁴)``.
They are valid for **one** look at a horizon fixed in advance; the always-valid p-value
and confidence sequence (:mod:`training.experiments.sequential`) are the ones to read
when the report is looked at every day. Sample sizes: :mod:`training.experiments.power`.
"""

# ruff: noqa: RUF002  (Greek letters: the formulas' own symbols)

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import norm

from training.experiments import power, sequential
from training.experiments.data import ArmSums
from training.experiments.srm import srm_test


def _z(alpha: float) -> float:
    return float(norm.ppf(1 - alpha / 2))


def wilson(k: float, n: float, alpha: float) -> list[float]:
    """Wilson score interval of a proportion k/n (NaN when n = 0)."""
    if n <= 0:
        return [math.nan, math.nan]
    z, p = _z(alpha), k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [centre - half, centre + half]


def build_report(
    sums: ArmSums, control: str, alpha: float, tau: float, weights: dict[str, float]
) -> dict[str, Any]:
    """The report's one JSON object: ``arms``, ``lift``, ``srm``, ``sequential``,
    ``sample_size`` (lift, sequential and sample size keyed by treatment arm)."""
    mean, var = sequential.mean_var(sums.n, sums.s, sums.ss)
    z = _z(alpha)
    arm_var = np.where(sums.n > 0, var / np.where(sums.n > 0, sums.n, 1), 0.0)
    band_lo, band_hi = sequential.confidence_sequence(mean, arm_var, tau, alpha)
    arms: dict[str, Any] = {}
    for i, arm in enumerate(sums.arms):
        n, m, v = sums.n[i, -1], mean[i, -1], var[i, -1]
        half = z * math.sqrt(v / n) if n > 1 else math.nan
        arms[arm] = {
            "decisions": int(sums.decisions[i]),
            "rewarded": int(n),
            "matched": int(sums.matched[i, -1]),
            "mean_reward": float(m),
            "mean_reward_ci": [float(m - half), float(m + half)],
            "mean_reward_always_valid_ci": [float(band_lo[i, -1]), float(band_hi[i, -1])],
            "escalation_rate": float(sums.escalated[i, -1] / sums.matched[i, -1])
            if sums.matched[i, -1]
            else math.nan,
            "escalation_rate_ci": wilson(sums.escalated[i, -1], sums.matched[i, -1], alpha),
        }
    c = sums.arms.index(control)
    lift: dict[str, Any] = {}
    seq: dict[str, Any] = {
        "method": "mSPRT, normal mixture prior (Johari et al. 2022)",
        "tau": tau,
        "alpha": alpha,
        "days": sums.days,
        "arms": {
            arm: {
                "n": sums.n[i].tolist(),
                "mean": mean[i].tolist(),
                "lo": band_lo[i].tolist(),
                "hi": band_hi[i].tolist(),
            }
            for i, arm in enumerate(sums.arms)
        },
        "lift": {},
    }
    sizes: dict[str, Any] = {}
    for t, arm in enumerate(sums.arms):
        if t == c:
            continue
        theta, v = sequential.diff_from_sums(sums.n, sums.s, sums.ss, c, t)
        p_av = sequential.always_valid_p(theta, v, tau)
        lo, hi = sequential.confidence_sequence(theta, v, tau, alpha)
        d, vd = float(theta[-1]), float(v[-1])
        ma, mb = float(mean[c, -1]), float(mean[t, -1])
        rel_var = (
            (var[t, -1] / sums.n[t, -1]) / ma**2 + mb**2 * (var[c, -1] / sums.n[c, -1]) / ma**4
            if ma
            else math.nan
        )
        rel = d / ma if ma else math.nan
        significant = p_av <= alpha
        lift[arm] = {
            "versus": control,
            "difference": d,
            "difference_ci": [d - z * math.sqrt(vd), d + z * math.sqrt(vd)],
            "relative": rel,
            "relative_ci": [rel - z * math.sqrt(rel_var), rel + z * math.sqrt(rel_var)],
            "p_value_fixed_horizon": float(sequential.naive_z_p(theta[-1:], v[-1:])[0]),
            "always_valid_p": float(p_av[-1]),
            "always_valid_ci": [float(lo[-1]), float(hi[-1])],
            "significant": bool(significant[-1]),
        }
        seq["lift"][arm] = {
            "difference": theta.tolist(),
            "p_value": p_av.tolist(),
            "lo": lo.tolist(),
            "hi": hi.tolist(),
            "fixed_lo": (theta - z * np.sqrt(v)).tolist(),
            "fixed_hi": (theta + z * np.sqrt(v)).tolist(),
            "first_significant_day": sums.days[int(np.argmax(significant))]
            if significant.any()
            else None,
        }
        sizes[arm] = _sample_size(d, float(var[c, -1]), float(var[t, -1]), sums, c, t, tau, alpha)
    counts = dict(zip(sums.arms, sums.decisions.tolist(), strict=True))
    return {
        "control": control,
        "alpha": alpha,
        "days": [sums.days[0], sums.days[-1]] if sums.days else [],
        "outside_experiments": sums.outside,
        "arms": arms,
        "lift": lift,
        "srm": srm_test(counts, weights),
        "sequential": seq,
        "sample_size": sizes,
    }


def _sample_size(
    d: float, var_c: float, var_t: float, sums: ArmSums, c: int, t: int, tau: float, alpha: float
) -> dict[str, Any]:
    """n per arm to detect the observed difference with 80 % power, both tests."""
    have = float(min(sums.n[c, -1], sums.n[t, -1]))
    n_fix = power.fixed_n(d, var_c, var_t, alpha)
    n_seq = power.sequential_n(d, var_c, var_t, tau, alpha)
    mdes = power.mde(var_c / sums.n[c, -1] + var_t / sums.n[t, -1], tau, alpha)
    return {
        "observed_effect": d,
        "power": power.POWER,
        "n_per_arm_now": int(have),
        "sequential_n_per_arm": n_seq,
        "fixed_horizon_n_per_arm": n_fix,
        "sequential_more_per_arm": max(0.0, n_seq - have),
        "fixed_horizon_more_per_arm": max(0.0, n_fix - have),
        "mde_sequential": mdes["sequential"],
        "mde_fixed_horizon": mdes["fixed"],
        "basis": "sequential n: the mSPRT's final look alone reaches the power (conservative "
        "under daily looks); fixed-horizon n: two-sample z-test, one look",
    }


def jsonable(value: Any) -> Any:
    """NaN and ±inf as null, recursively, so the object is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return jsonable(value.item())
    return value
