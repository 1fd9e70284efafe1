"""Population stability index (PSI) of served values against a training distribution.

``PSI = sum_i (a_i - e_i) * ln(a_i / e_i)`` over the fixed bins of
:class:`modelio.distributions.Binned` (``e`` training shares, ``a`` the window's); a
share of 0 counts as :data:`FLOOR` so that an empty bin gives a large but finite value.
Conventional reading: below 0.1 stable, 0.1-0.2 watch, above 0.2 drift.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from modelio.distributions import Binned

FLOOR = 1e-4
WATCH = 0.1
DRIFT = 0.2


def psi(expected: np.ndarray, actual: np.ndarray, floor: float = FLOOR) -> float:
    """PSI of the bin shares ``actual`` against ``expected`` (same bins)."""
    e = np.clip(np.asarray(expected, dtype=np.float64), floor, None)
    a = np.clip(np.asarray(actual, dtype=np.float64), floor, None)
    if e.shape != a.shape:
        raise ValueError(f"bins differ: {e.shape} vs {a.shape}")
    return float(np.sum((a - e) * np.log(a / e)))


def status(value: float) -> str:
    """``drift`` above :data:`DRIFT`, ``watch`` above :data:`WATCH`, else ``ok``."""
    if value > DRIFT:
        return "drift"
    return "watch" if value > WATCH else "ok"


def psi_of(binned: Binned, values: np.ndarray) -> float:
    """PSI of raw ``values`` binned like the training distribution (NaN if empty)."""
    if not len(values):
        return float("nan")
    return psi(np.asarray(binned.shares), binned.shares_of(values))


def psi_columns(
    distributions: Mapping[str, Binned], columns: Mapping[str, np.ndarray]
) -> dict[str, float]:
    """PSI of every named column that has a training distribution."""
    return {
        name: psi_of(distributions[name], columns[name])
        for name in distributions
        if name in columns
    }
