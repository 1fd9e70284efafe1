"""Known drift injected into the replay world, so drift detectors meet a known truth.

A :class:`Drift` changes the turns opened at or after ``after_s`` (Unix s): an
archetype's share of the turns, the turn sentiment, or a raw feature's scale. The world
applies it to the truth's state (:class:`training.replay.world.World`, so outcomes follow
the drifted customers), and :meth:`Drift.apply_raw` applies the same scaling to the raw
online features a server would be served. Without a drift nothing changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training.replay.population import ENGAGEMENT_STATE, HISTORY_COUNTS, PROFILE_STATE, Population

#: Raw feature column -> state key (the inverse of the population's state maps).
STATE_KEY: dict[str, str] = {
    **{column: key for key, column in {**PROFILE_STATE, **ENGAGEMENT_STATE}.items()},
    **{name: name for name in HISTORY_COUNTS},
}
_NOT_SCALABLE = {"plan_tier", "personalization_consent"}


@dataclass(frozen=True)
class Drift:
    """What changes for turns opened at or after ``after_s``.

    ``archetype_weight``: archetype index -> multiplier of its customers' draw weight
    (e.g. ``{2: 3.0}`` triples archetype 2's share of the turns); ``sentiment_shift`` is
    added to the turn sentiment (clipped to [-1, 1]); ``feature_scale``: raw feature
    column -> factor (e.g. ``{"monthly_spend": 2.0}``)."""

    after_s: int
    sentiment_shift: float = 0.0
    feature_scale: Mapping[str, float] = field(default_factory=dict)
    archetype_weight: Mapping[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = [f for f in self.feature_scale if f not in STATE_KEY or f in _NOT_SCALABLE]
        if bad:
            raise ValueError(f"cannot scale {bad}: numeric raw features are {sorted(STATE_KEY)}")
        if any(w < 0 for w in self.archetype_weight.values()):
            raise ValueError("archetype weights must be >= 0")

    def mask(self, event_s: np.ndarray) -> np.ndarray:
        """The drifted turns."""
        return np.asarray(event_s) >= self.after_s

    def customers(
        self, rng: np.random.Generator, pop: Population, who: np.ndarray, event_s: np.ndarray
    ) -> np.ndarray:
        """``who`` with the drifted turns' customers redrawn under the archetype weights
        (times are kept; ``rng`` is the drift's own stream, so undrifted turns never move)."""
        if not self.archetype_weight:
            return who
        weight = np.ones(len(pop))
        for archetype, factor in self.archetype_weight.items():
            weight[pop.archetype == archetype] = factor
        p = pop.ticket_rate * weight
        redrawn = rng.choice(len(pop), size=len(who), p=p / p.sum())
        return np.where(self.mask(event_s), redrawn, who)

    def apply_context(self, context: dict[str, np.ndarray], event_s: np.ndarray) -> None:
        """Shift the drifted turns' sentiment, in place."""
        if self.sentiment_shift:
            shifted = np.clip(context["sentiment"] + self.sentiment_shift, -1.0, 1.0)
            context["sentiment"] = np.where(
                self.mask(event_s), np.round(shifted, 4), context["sentiment"]
            )

    def apply_state(self, customer: dict[str, np.ndarray], event_s: np.ndarray) -> None:
        """Scale the drifted turns' customer features (state keys), in place."""
        on = self.mask(event_s)
        for column, factor in self.feature_scale.items():
            key = STATE_KEY[column]
            customer[key] = np.where(on, customer[key] * factor, customer[key])

    def apply_raw(
        self, records: Sequence[Mapping[str, Any]], event_s: np.ndarray
    ) -> list[dict[str, Any]]:
        """Raw online-feature records of the turns with the drifted ones scaled."""
        out = [dict(r) for r in records]
        for row, on in zip(out, self.mask(event_s), strict=True):
            for column, factor in self.feature_scale.items():
                if on and row.get(column) is not None:
                    row[column] = row[column] * factor
        return out


def parse_drift(spec: str) -> tuple[int, dict[str, Any]]:
    """``at=TURN,sentiment=-0.5,monthly_spend=2,archetype2=3`` -> (TURN, Drift keywords):
    ``sentiment`` is the shift, ``archetype<k>`` a weight, any other key a raw feature's
    scale. The drift starts at the time of turn TURN of the first round."""
    at: int | None = None
    kwargs: dict[str, Any] = {"feature_scale": {}, "archetype_weight": {}}
    for item in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--drift: expected KEY=VALUE[,...], got {item!r}")
        if key == "at":
            at = int(value)
        elif key == "sentiment":
            kwargs["sentiment_shift"] = float(value)
        elif key.startswith("archetype"):
            kwargs["archetype_weight"][int(key.removeprefix("archetype"))] = float(value)
        else:
            kwargs["feature_scale"][key] = float(value)
    if at is None or at < 0:
        raise ValueError("--drift needs at=TURN (a turn index of the first round, >= 0)")
    return at, kwargs
