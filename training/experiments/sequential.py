"""Always-valid inference: the mixture sequential probability ratio test (mSPRT).

For the difference of two means θ = μ_B - μ_A with estimate θ̂_n = Ȳ_B - Ȳ_A and its
variance V_n = σ_A²/n_A + σ_B²/n_B, a normal mixture prior θ ~ N(θ₀, τ²) over the
alternative gives the mixture likelihood ratio (Johari, Koomen, Pekelis & Walsh,
"Always Valid Inference: Continuous Monitoring of A/B Tests", Operations Research 70(3),
2022, eq. (11); Robbins 1970)::

    Λ_n(θ₀) = sqrt(V_n / (V_n + τ²)) · exp( τ² (θ̂_n - θ₀)² / (2 V_n (V_n + τ²)) )

Λ_n is a non-negative martingale under θ = θ₀, so by Ville's inequality
P(∃n: Λ_n ≥ 1/α) ≤ α however often one looks. Hence

* the always-valid p-value ``p_n = min(p_{n-1}, 1/Λ_n(0))`` (reject when p_n ≤ α), and
* the always-valid confidence sequence ``{θ₀ : Λ_n(θ₀) < 1/α}``::

      θ̂_n ± sqrt( V_n (V_n + τ²) / τ² · (log((V_n + τ²) / V_n) - 2 log α) )

  intersected over time (``lo_n = max(lo_{n-1}, ·)``, ``hi_n = min(hi_{n-1}, ·)``),
  which keeps the coverage guarantee and never widens.

σ² is the plug-in sample variance at each look (asymptotically valid, Johari et al.
§4); the same formulas with V_n = σ²/n give an always-valid interval for one mean.
τ is the prior scale of the effect, in reward units: the test is most efficient for
effects near τ. Optimizely's Stats Engine is this test; Eppo's sequential mode is a
close relative (a Gaussian mixture confidence sequence, Howard et al. 2021).

Every function is vectorized: the last axis is time (the looks), leading axes anything
(e.g. simulated experiments), so a thousand A/A tests are one call.
"""

# ruff: noqa: RUF002  (Greek letters: the formulas' own symbols)

from __future__ import annotations

import numpy as np

DEFAULT_TAU = 0.05  # prior s.d. of the effect, reward units (5 points on a 0/1 reward)


def log_mixture_lr(theta_hat: np.ndarray, var: np.ndarray, tau: float, theta0: float = 0.0
                   ) -> np.ndarray:  # fmt: skip
    """log Λ_n(θ₀) of the module doc (NaN where the variance is not positive)."""
    theta_hat, var = np.asarray(theta_hat, dtype=float), np.asarray(var, dtype=float)
    tau2 = tau * tau
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 0.5 * np.log(var / (var + tau2)) + tau2 * (theta_hat - theta0) ** 2 / (
            2.0 * var * (var + tau2)
        )
    return np.where(var > 0, out, np.nan)


def half_width(var: np.ndarray, tau: float, alpha: float) -> np.ndarray:
    """Half-width of the confidence sequence at one look (before intersecting)."""
    var = np.asarray(var, dtype=float)
    tau2 = tau * tau
    with np.errstate(divide="ignore", invalid="ignore"):
        width = np.sqrt(
            var * (var + tau2) / tau2 * (np.log((var + tau2) / var) - 2 * np.log(alpha))
        )
    return np.where(var > 0, width, np.inf)


def always_valid_p(theta_hat: np.ndarray, var: np.ndarray, tau: float) -> np.ndarray:
    """Running p_n = min(1, min_{m≤n} 1/Λ_m(0)) along the last axis."""
    log_lr = np.nan_to_num(log_mixture_lr(theta_hat, var, tau), nan=-np.inf)
    p = np.minimum(1.0, np.exp(-np.maximum(log_lr, -700.0)))
    return np.minimum.accumulate(p, axis=-1)


def confidence_sequence(
    theta_hat: np.ndarray, var: np.ndarray, tau: float, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Running-intersection (lo, hi) of the 1 - α confidence sequence along the last axis."""
    theta_hat = np.asarray(theta_hat, dtype=float)
    width = half_width(var, tau, alpha)
    lo = np.where(np.isfinite(width), theta_hat - width, -np.inf)
    hi = np.where(np.isfinite(width), theta_hat + width, np.inf)
    return np.maximum.accumulate(lo, axis=-1), np.minimum.accumulate(hi, axis=-1)


def diff_from_sums(
    n: np.ndarray, s: np.ndarray, ss: np.ndarray, control: int = 0, treatment: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """θ̂ and V from cumulative counts, sums and sums of squares (arm on axis -2).

    ``n, s, ss`` have shape (..., arms, looks); the sample variance of each arm is
    ``(ss - s²/n) / (n - 1)``. Returns (θ̂, V) of shape (..., looks).
    """
    mean, var = mean_var(n, s, ss)
    theta_hat = mean[..., treatment, :] - mean[..., control, :]
    v = var[..., treatment, :] / n[..., treatment, :] + var[..., control, :] / n[..., control, :]
    return theta_hat, v


def mean_var(n: np.ndarray, s: np.ndarray, ss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Means and sample variances (ddof 1) from counts, sums and sums of squares."""
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n > 0, s / n, np.nan)
        var = np.where(n > 1, (ss - s * s / np.where(n > 0, n, 1)) / (n - 1), np.nan)
    return mean, np.maximum(var, 0.0)


def naive_z_p(theta_hat: np.ndarray, var: np.ndarray) -> np.ndarray:
    """Fixed-horizon two-sided z-test p-value at each look (invalid when peeked at)."""
    from scipy.stats import norm

    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(theta_hat) / np.sqrt(var)
    return np.where(var > 0, 2 * norm.sf(z), 1.0)
