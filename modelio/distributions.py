"""Training distributions frozen into a manifest: fixed bins per model input and score.

A :class:`Binned` distribution is either *numeric* (interior decile ``edges`` from the
training data; bin ``i`` holds ``edges[i-1] < x <= edges[i]``, the first and last bins
are open) or *categorical* (the input's few distinct training values, e.g. a 0/1 flag,
plus a last "other" bin for values training never saw). ``shares`` are the training
share of each bin. :meth:`Binned.shares_of` bins new values the same way, which is what
the drift monitor (``python -m training monitor``) compares by PSI.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Inputs with at most this many distinct training values are binned as categories.
MAX_CATEGORIES = 10
#: Decile edges by default (10 bins).
QUANTILES = tuple(i / 10 for i in range(1, 10))


class Binned(BaseModel):
    """One input's (or score's) training distribution over fixed bins."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(pattern=r"^(numeric|categorical)$")
    edges: list[float] = Field(default_factory=list, description="numeric: interior bin edges")
    values: list[float] = Field(default_factory=list, description="categorical: the categories")
    shares: list[float] = Field(min_length=1, description="training share of each bin")

    @model_validator(mode="after")
    def _consistent(self) -> Binned:
        expected = len(self.edges) + 1 if self.kind == "numeric" else len(self.values) + 1
        if len(self.shares) != expected:
            raise ValueError(f"{self.kind} distribution needs {expected} shares")
        if self.kind == "numeric" and np.any(np.diff(self.edges) <= 0):
            raise ValueError("edges must be strictly increasing")
        if abs(sum(self.shares) - 1.0) > 1e-6:
            raise ValueError("shares must sum to 1")
        return self

    def bin_index(self, x: np.ndarray) -> np.ndarray:
        """The bin of each value (NaN goes to the last bin)."""
        x = np.asarray(x, dtype=np.float64)
        if self.kind == "numeric":
            index = np.searchsorted(np.asarray(self.edges), x, side="left")
            return np.where(np.isnan(x), len(self.edges), index)
        cats = np.asarray(self.values)
        hit = np.isclose(x[:, None], cats[None, :], rtol=0.0, atol=1e-6)
        return np.where(hit.any(axis=1), hit.argmax(axis=1), len(cats))

    def shares_of(self, x: np.ndarray) -> np.ndarray:
        """Share of ``x`` in each bin (zeros when ``x`` is empty)."""
        counts = np.bincount(self.bin_index(x), minlength=len(self.shares)).astype(np.float64)
        return counts / counts.sum() if counts.sum() else counts


class TrainingDistributions(BaseModel):
    """Manifest field ``distributions``: what the version was trained on."""

    model_config = ConfigDict(extra="forbid")

    rows: int = Field(default=0, ge=0, description="training rows the input bins come from")
    inputs: dict[str, Binned] = Field(default_factory=dict, description="escalation inputs")
    scores: dict[str, Binned] = Field(
        default_factory=dict,
        description="escalation_probability and score_<action> (reward model) on training rows",
    )
    action_mix: dict[str, float] = Field(
        default_factory=dict, description="the version's policy: mean P(action) on training rows"
    )
    rates: dict[str, float] = Field(
        default_factory=dict, description="training outcome rates (escalation, resolution)"
    )


def fit_binned(x: np.ndarray) -> Binned:
    """Bins of one training column: categories when few distinct values, else deciles."""
    x = np.asarray(x, dtype=np.float64)
    x = x[~np.isnan(x)]
    if not len(x):
        raise ValueError("no values to bin")
    distinct = np.unique(x)
    if len(distinct) <= MAX_CATEGORIES:
        shares = [float(np.mean(x == v)) for v in distinct] + [0.0]
        return Binned(kind="categorical", values=distinct.tolist(), shares=_normal(shares))
    edges = np.unique(np.quantile(x, QUANTILES))
    binned = Binned(kind="numeric", edges=edges.tolist(), shares=_even(len(edges)))
    return binned.model_copy(update={"shares": _normal(binned.shares_of(x).tolist())})


def _even(n_edges: int) -> list[float]:
    return [1.0 / (n_edges + 1)] * (n_edges + 1)


def _normal(shares: list[float]) -> list[float]:
    total = sum(shares)
    return [s / total for s in shares]
