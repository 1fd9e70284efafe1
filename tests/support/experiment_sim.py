"""Vectorized simulated experiments: daily Bernoulli reward sums per run, arm and day."""

from __future__ import annotations

import numpy as np


def bernoulli_sums(
    rng: np.random.Generator, runs: int, rates: tuple[float, float], per_day: int, days: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative (n, s, ss) of shape (runs, 2, days); for 0/1 rewards ss == s."""
    daily = rng.binomial(per_day, np.array(rates)[None, :, None], size=(runs, 2, days))
    s = np.cumsum(daily, axis=-1).astype(float)
    n = np.broadcast_to(per_day * np.arange(1, days + 1, dtype=float), s.shape)
    return n, s, s.copy()
