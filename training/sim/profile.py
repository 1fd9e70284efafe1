"""CRM profile snapshots: one initial snapshot per customer plus a few change snapshots."""

from __future__ import annotations

import numpy as np

from modelio.vocab import PLAN_TIERS
from training.sim.archetypes import choice_rows, param, param_rows
from training.sim.config import DAY

#: List price per tier and per extra product (monthly).
TIER_PRICE = np.array([0.0, 15.0, 35.0, 69.0])
ADDON_PRICE = 7.0
MONTH = 30.44 * DAY
_MAX_CHANGES = 3
_PREMIUM = len(PLAN_TIERS) - 1


def _spend(
    tier: np.ndarray, products: np.ndarray, value: np.ndarray, noise: np.ndarray
) -> np.ndarray:
    raw = (TIER_PRICE[tier] + ADDON_PRICE * (products - 1)) * value * noise
    return np.round(np.maximum(raw, 0.0), 2)


def _initial(
    rng: np.random.Generator, cust: dict[str, np.ndarray], start_s: int
) -> dict[str, np.ndarray]:
    arch = cust["archetype"]
    n = len(arch)
    tier = choice_rows(rng, param_rows("tier_probs", arch))
    # floor + Bernoulli(fraction): product counts cluster tightly within an archetype.
    extra = param("extra_products", arch)
    products = 1 + np.floor(extra).astype(np.int64) + (rng.random(n) < extra % 1.0)
    tenure = param("tenure_median", arch) * np.exp(
        rng.normal(0, 1, n) * param("tenure_sigma", arch)
    )
    tenure = np.minimum(tenure, 240.0)
    spend = _spend(tier, products, cust["value_level"], np.exp(rng.normal(0, 0.15, n)))
    # Lifetime value ~ what they paid so far plus one-off purchases (so free users are > 0).
    one_off = 25.0 * cust["value_level"] * np.exp(rng.normal(0, 0.4, n))
    ltv = np.round(spend * tenure * np.exp(rng.normal(0, 0.2, n)) + one_off, 2)
    return {
        "t": start_s - rng.integers(0, 14 * DAY, n),
        "tier": tier,
        "spend": spend,
        "tenure_f": tenure,
        "ltv": ltv,
        "products": products,
        "consent": rng.random(n) < param("consent", arch),
    }


def _apply_change(
    rng: np.random.Generator,
    state: dict[str, np.ndarray],
    idx: np.ndarray,
    when: np.ndarray,
    arch: np.ndarray,
    value: np.ndarray,
) -> None:
    """Mutate ``state`` rows ``idx`` for a CRM change at time ``when`` (vectorized)."""
    elapsed = (when - state["t"][idx]) / MONTH
    state["ltv"][idx] = np.round(state["ltv"][idx] + state["spend"][idx] * elapsed, 2)
    state["tenure_f"][idx] += elapsed
    state["t"][idx] = when
    kind = rng.choice(3, size=len(idx), p=[0.4, 0.4, 0.2])
    up = rng.random(len(idx)) < param("upgrade", arch)
    tier = state["tier"][idx]
    tier = np.where(kind == 0, np.clip(tier + np.where(up, 1, -1), 0, _PREMIUM), tier)
    products = state["products"][idx]
    products = np.where((kind == 1) & up, np.minimum(products + 1, 6), products)
    products = np.where((kind == 1) & ~up, np.maximum(products - 1, 1), products)
    spend = _spend(tier, products, value, np.exp(rng.normal(0, 0.15, len(idx))))
    changed = kind < 2
    state["spend"][idx] = np.where(changed, spend, state["spend"][idx])
    state["tier"][idx] = tier
    state["products"][idx] = products
    state["consent"][idx] = np.where(kind == 2, ~state["consent"][idx], state["consent"][idx])


def _snapshot(state: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "cust": rows.copy(),
        "t": state["t"][rows].copy(),
        "tier": state["tier"][rows].copy(),
        "spend": state["spend"][rows].copy(),
        "tenure": np.floor(state["tenure_f"][rows]).astype(np.int64),
        "ltv": state["ltv"][rows].copy(),
        "products": state["products"][rows].copy(),
        "consent": state["consent"][rows].copy(),
    }


def simulate_profiles(
    rng: np.random.Generator, cust: dict[str, np.ndarray], start_s: int, end_s: int
) -> dict[str, np.ndarray]:
    """All snapshots of a block, sorted by (customer, time).

    The first snapshot is stamped in the 14 days before the window start; change
    snapshots fall uniformly inside the window (about a quarter of customers get one).
    """
    arch = cust["archetype"]
    n = len(arch)
    state = _initial(rng, cust, start_s)
    n_changes = np.minimum(rng.poisson(param("changes", arch)), _MAX_CHANGES)
    times = np.sort(rng.integers(start_s, end_s, (n, _MAX_CHANGES)), axis=1)
    parts = [_snapshot(state, np.arange(n))]
    for j in range(_MAX_CHANGES):
        idx = np.flatnonzero(n_changes > j)
        if len(idx) == 0:
            break
        _apply_change(rng, state, idx, times[idx, j], arch[idx], cust["value_level"][idx])
        parts.append(_snapshot(state, idx))
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((out["t"], out["cust"]))
    return {k: v[order] for k, v in out.items()}


def asof_rows(
    snap_cust: np.ndarray, snap_t: np.ndarray, cust: np.ndarray, t: np.ndarray
) -> np.ndarray:
    """Index of the latest snapshot with the same customer and time <= ``t`` (-1 if none).

    Both inputs must be sorted by (customer, time); customer indexes are < 2**22 and
    times are Unix seconds, so one int64 key orders both.
    """
    key_s = (snap_cust.astype(np.int64) << 40) + snap_t
    key_q = (cust.astype(np.int64) << 40) + t
    pos = np.searchsorted(key_s, key_q, side="right") - 1
    ok = (pos >= 0) & (snap_cust[np.maximum(pos, 0)] == cust)
    return np.where(ok, pos, -1)
