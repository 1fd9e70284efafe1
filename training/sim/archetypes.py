"""Latent customer archetypes and the per-customer latent variables drawn from them.

Archetypes overlap on purpose (lognormal spreads, shared tiers) but sit in different
corners of the (value, tenure, engagement, usage) space so that KMeans on the segment
inputs can recover them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelio.vocab import FORMALITIES, LANGUAGES
from training.sim.config import TIMEZONES, TIMEZONES_BY_LANGUAGE


@dataclass(frozen=True)
class Archetype:
    """Distribution parameters of one archetype (see docs/data.md for the table)."""

    name: str
    share: float
    tier_probs: tuple[float, float, float, float]  # free, basic, plus, premium
    tenure_median: float  # months at the first CRM snapshot
    tenure_sigma: float
    extra_products: float  # num_products = 1 + floor(x) + Bernoulli(fraction of x)
    value: float  # spend multiplier (lognormal median)
    p_active: float  # daily activity probability
    sessions: float  # sessions per active day
    pages: float  # page views per session
    minutes: float  # minutes per session
    usage: float  # product usage units per active day
    trend: float  # log change of activity from start to end of the horizon
    consent: float  # P(personalization_consent) at the first snapshot
    patience: float  # latent impatience: additive escalation logit
    tickets: float  # expected tickets per 180 days
    devices: tuple[float, float, float]  # desktop, mobile, tablet
    categories: tuple[float, float, float, float, float, float]  # ISSUE_CATEGORIES order
    sentiment: float  # mean pre-tanh sentiment
    changes: float  # expected CRM changes in the window
    upgrade: float  # P(a tier change is an upgrade)
    formal: float  # P(preferred_formality == "formal")


# fmt: off
ARCHETYPES: tuple[Archetype, ...] = (
    Archetype(
        name="budget_self_server", share=0.24, tenure_median=16, tenure_sigma=0.3,
        tier_probs=(0.08, 0.9, 0.02, 0.0), extra_products=0.1, value=1.0,
        p_active=0.33, sessions=1.8, pages=12.0, minutes=4.0, usage=1.0, trend=0.0,
        consent=0.85, patience=-0.3, tickets=2.5, sentiment=0.15,
        changes=0.25, upgrade=0.5, formal=0.35,
        devices=(0.45, 0.45, 0.1),
        categories=(0.3, 0.15, 0.15, 0.25, 0.03, 0.12),
    ),
    Archetype(
        name="premium_power_user", share=0.18, tenure_median=45, tenure_sigma=0.3,
        tier_probs=(0.0, 0.0, 0.15, 0.85), extra_products=2.3, value=1.1,
        p_active=0.8, sessions=3.0, pages=5.0, minutes=14.0, usage=2.0, trend=0.0,
        consent=0.9, patience=0.2, tickets=3.5, sentiment=0.1,
        changes=0.35, upgrade=0.6, formal=0.65,
        devices=(0.7, 0.2, 0.1),
        categories=(0.15, 0.45, 0.15, 0.1, 0.03, 0.12),
    ),
    Archetype(
        name="frustrated_churn_risk", share=0.16, tenure_median=26, tenure_sigma=0.3,
        tier_probs=(0.0, 0.2, 0.75, 0.05), extra_products=1.0, value=1.0,
        p_active=0.16, sessions=1.2, pages=3.0, minutes=4.0, usage=2.0, trend=-1.2,
        consent=0.8, patience=0.7, tickets=8.0, sentiment=-0.45,
        changes=0.45, upgrade=0.2, formal=0.45,
        devices=(0.4, 0.5, 0.1),
        categories=(0.35, 0.2, 0.1, 0.1, 0.2, 0.05),
    ),
    Archetype(
        name="new_onboarding", share=0.18, tenure_median=1.2, tenure_sigma=0.6,
        tier_probs=(0.55, 0.4, 0.05, 0.0), extra_products=0.0, value=0.9,
        p_active=0.75, sessions=2.8, pages=16.0, minutes=10.0, usage=0.5, trend=0.6,
        consent=0.85, patience=0.25, tickets=5.0, sentiment=0.0,
        changes=0.45, upgrade=0.8, formal=0.3,
        devices=(0.25, 0.65, 0.1),
        categories=(0.15, 0.3, 0.3, 0.1, 0.02, 0.13),
    ),
    Archetype(
        name="casual_low_engagement", share=0.24, tenure_median=60, tenure_sigma=0.3,
        tier_probs=(0.95, 0.05, 0.0, 0.0), extra_products=0.0, value=0.7,
        p_active=0.05, sessions=1.0, pages=3.0, minutes=3.0, usage=0.2, trend=0.0,
        consent=0.8, patience=-0.2, tickets=1.2, sentiment=0.1,
        changes=0.15, upgrade=0.5, formal=0.4,
        devices=(0.35, 0.5, 0.15),
        categories=(0.15, 0.1, 0.2, 0.2, 0.05, 0.3),
    ),
)
# fmt: on
K = len(ARCHETYPES)
ARCHETYPE_NAMES: tuple[str, ...] = tuple(a.name for a in ARCHETYPES)


def param(name: str, archetype: np.ndarray) -> np.ndarray:
    """Per-customer array of archetype parameter ``name`` (float64)."""
    table = np.array([getattr(a, name) for a in ARCHETYPES], dtype=np.float64)
    return table[archetype]


def param_rows(name: str, archetype: np.ndarray) -> np.ndarray:
    """Per-customer rows of a tuple-valued parameter, e.g. tier or device probabilities."""
    table = np.array([getattr(a, name) for a in ARCHETYPES], dtype=np.float64)
    return table[archetype]


def choice_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """Draw one category per row of a probability matrix (vectorized inverse CDF)."""
    cdf = np.cumsum(probs, axis=1)
    cdf /= cdf[:, -1:]
    u = rng.random(len(probs))[:, None]
    return np.minimum((u > cdf).sum(axis=1), probs.shape[1] - 1).astype(np.int64)


_LANGUAGE_PROBS = np.array([0.50, 0.20, 0.10, 0.10, 0.10])
_ZONE_OFFSET = np.cumsum([0] + [len(TIMEZONES_BY_LANGUAGE[lang]) for lang in LANGUAGES])


def sample_customers(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Latent variables of ``n`` customers: archetype, multipliers, language, zone."""
    shares = np.array([a.share for a in ARCHETYPES])
    archetype = rng.choice(K, size=n, p=shares / shares.sum()).astype(np.int64)
    language = rng.choice(len(LANGUAGES), size=n, p=_LANGUAGE_PROBS).astype(np.int64)
    zones_per_lang = np.diff(_ZONE_OFFSET)[language]
    zone = _ZONE_OFFSET[language] + (rng.random(n) * zones_per_lang).astype(np.int64)
    formal = rng.random(n) < param("formal", archetype)
    return {
        "archetype": archetype,
        # Individual multipliers around the archetype medians (the "overlap").
        "engagement_level": np.exp(rng.normal(0.0, 0.25, n)),
        "value_level": np.exp(rng.normal(0.0, 0.15, n)) * param("value", archetype),
        "ticket_rate": rng.gamma(4.0, 0.25, n) * param("tickets", archetype),
        "patience": param("patience", archetype),
        "language": language,
        "zone": zone,
        "formality": np.where(formal, FORMALITIES.index("formal"), FORMALITIES.index("casual")),
    }


def zone_names(zone: np.ndarray) -> list[str]:
    """IANA names for zone indexes."""
    return [TIMEZONES[i] for i in zone]
