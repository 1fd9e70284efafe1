"""Daily engagement (sessions, page views, minutes, product usage) for active days only."""

from __future__ import annotations

import numpy as np

from training.sim.archetypes import param
from training.sim.config import DAY

_WEEKEND_FACTOR = 0.75


def simulate_engagement(
    rng: np.random.Generator, cust: dict[str, np.ndarray], first_day_s: int, end_s: int
) -> dict[str, np.ndarray]:
    """Rows (customer, day) with activity between ``first_day_s`` and ``end_s``.

    A customer is active on a day with probability p_active x level x weekday factor x
    trend; only active days produce rows, sorted by (customer, day).
    """
    arch = cust["archetype"]
    level = cust["engagement_level"]
    n_days = (end_s - first_day_s) // DAY
    day_s = first_day_s + DAY * np.arange(n_days, dtype=np.int64)
    weekday = ((day_s // DAY) + 3) % 7  # 1970-01-01 was a Thursday
    week_factor = np.where(weekday >= 5, _WEEKEND_FACTOR, 1.0)
    # Churn-risk customers fade out, onboarding customers ramp up over the horizon.
    progress = np.linspace(-0.5, 0.5, n_days)
    trend = np.exp(param("trend", arch)[:, None] * progress[None, :])
    p = np.clip((param("p_active", arch) * level)[:, None] * week_factor[None, :] * trend, 0, 0.97)
    active = rng.random(p.shape) < p
    rows, cols = np.nonzero(active)  # row-major: sorted by customer, then day
    sessions = 1 + rng.poisson(np.maximum(param("sessions", arch)[rows] * level[rows] - 1, 0))
    pages = sessions + rng.poisson(sessions * np.maximum(param("pages", arch)[rows] - 1, 0))
    minutes = rng.gamma(2.0, sessions * param("minutes", arch)[rows] / 2.0)
    usage = rng.gamma(1.5, param("usage", arch)[rows] / 1.5)
    return {
        "cust": rows.astype(np.int64),
        "t": day_s[cols],
        "sessions": sessions.astype(np.int64),
        "page_views": pages.astype(np.int64),
        "minutes": np.round(minutes, 2),
        "product_usage": np.round(usage, 3),
    }
