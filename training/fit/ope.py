"""Off-policy evaluation of a target policy π on logged decisions, and its true values.

Logged data: context x_i, action a_i drawn by the logging policy with propensity
p_i = π_log(a_i|x_i), reward r_i (success). With w_i = π(a_i|x_i) / p_i:

* IPS   = mean(w_i r_i)
* SNIPS = Σ w_i r_i / Σ w_i
* DR    = mean(Σ_a π(a|x_i) q̂(x_i, a) + w_i (r_i - q̂(x_i, a_i)))  (q̂ = reward model)

With the simulator's ground truth p(a|x) = P(success | x, a):

* true value of π          = mean Σ_a π(a|x_i) p(a|x_i)
* true value of logging    = mean p(a_i|x_i), the expected success of the actions the
  logging policy actually took (its full distribution is not logged, only p_i)
* true value of the oracle = mean max over eligible a of p(a|x_i)
"""

from __future__ import annotations

import numpy as np


def importance_weights(pi: np.ndarray, actions: np.ndarray, propensity: np.ndarray) -> np.ndarray:
    """w_i = π(a_i|x_i) / p_i."""
    return pi[np.arange(len(actions)), actions] / propensity


def dr_terms(
    pi: np.ndarray,
    q_hat: np.ndarray,
    actions: np.ndarray,
    propensity: np.ndarray,
    reward: np.ndarray,
) -> np.ndarray:
    """Each row's doubly robust term (DR is their mean): Σ_a π q̂ + w (r - q̂(a_i))."""
    w = importance_weights(pi, actions, propensity)
    rows = np.arange(len(actions))
    return np.asarray((pi * q_hat).sum(axis=1) + w * (reward - q_hat[rows, actions]))


def ope_estimates(
    pi: np.ndarray,
    q_hat: np.ndarray,
    actions: np.ndarray,
    propensity: np.ndarray,
    reward: np.ndarray,
) -> dict[str, float]:
    """IPS, SNIPS and doubly robust estimates of the value of π (arrays nx7 / n)."""
    w = importance_weights(pi, actions, propensity)
    direct = (pi * q_hat).sum(axis=1)
    return {
        "ips": float(np.mean(w * reward)),
        "snips": float(np.sum(w * reward) / np.sum(w)) if np.sum(w) > 0 else 0.0,
        "dr": float(np.mean(dr_terms(pi, q_hat, actions, propensity, reward))),
        "dm": float(np.mean(direct)),
        "logged_reward": float(np.mean(reward)),
        "max_weight": float(np.max(w)) if len(w) else 0.0,
        "effective_sample_size": float(np.sum(w) ** 2 / np.sum(w**2)) if np.any(w) else 0.0,
    }


def true_values(
    pi: np.ndarray, p_true: np.ndarray, masks: np.ndarray, actions: np.ndarray
) -> dict[str, float]:
    """True values of π, of the logging policy and of the eligible-action oracle."""
    rows = np.arange(len(actions))
    eligible = np.where(masks, p_true, -np.inf)
    return {
        "true_value_learned": float(np.mean((pi * p_true).sum(axis=1))),
        "true_value_logging": float(np.mean(p_true[rows, actions])),
        "true_value_oracle": float(np.mean(eligible.max(axis=1))),
    }


def bootstrap(
    arrays: dict[str, np.ndarray], resamples: int, seed: int, level: float = 0.95
) -> dict[str, list[float]]:
    """Percentile-bootstrap intervals of every :func:`ope_estimates` value (rows resampled)."""
    n = len(arrays["actions"])
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(resamples):
        idx = rng.integers(0, n, n)
        for key, value in ope_estimates(**{k: v[idx] for k, v in arrays.items()}).items():
            draws.setdefault(key, []).append(value)
    tail = (1.0 - level) / 2.0 * 100.0
    out = {}
    for key, values in draws.items():
        lo, hi = np.percentile(np.asarray(values), [tail, 100.0 - tail])
        out[key] = [float(lo), float(hi)]
    return out
