"""Cross-fitted off-policy value of a version trained ``--from-log``, on every logged row.

A version trained on the log cannot be scored on its own training rows (its reward
model flatters the actions it picks, and DR inherits that optimism), and holding a
share of the log out leaves few rows for an estimate whose variance is ruled by a few
large importance weights: a candidate far from the logging policy takes, on one row in
a hundred, an action the logger explored with propensity ε/k, and that row weighs
~1/(ε/k) ≈ 100. So the estimate is cross-fitted instead (as in double machine
learning): the logged rows are split into FOLDS folds by decision-id hash
(:mod:`training.feedback.logged`), and for each fold the reward model is fitted again,
by the same recipe, on the source history
and the other folds; that model's policy is scored on the fold. The fold fits take the
variant (plain or propensity-weighted) the full fit chose by validation SNIPS: that
choice is one bit learnt from the validation rows, and choosing again per fold would
double the fits, the step's whole cost. Every logged row is
then scored by a policy that never saw it, and IPS, SNIPS and DR are means over all of
them, with a bootstrap over rows. It estimates the value of the training recipe on
(FOLDS-1)/FOLDS of the log, which the served version, fitted on all of it, matches or
beats; docs/learning-loop.md shows the estimate against the truth in replays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from modelio.policy import PolicyConfig
from training.feedback.logged import FOLDS, LoggedSets
from training.fit import nba
from training.fit.escalation import positive_proba

RESAMPLES = 500

#: One fold's progress: (fold, folds) -> None.
FoldProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class Recipe:
    """How the served reward model was fitted, to fit each fold's the same way."""

    source: tuple[nba.PolicyData, nba.PolicyData]  # the history's training, validation rows
    variant: str  # of nba.VARIANTS
    predict_risk: nba.Predict
    config: PolicyConfig
    seed: int


def fold_arrays(recipe: Recipe, logged: LoggedSets, k: int) -> dict[str, np.ndarray]:
    """Fold ``k`` scored by the reward model fitted without it (source + other folds)."""
    train = nba.concat(recipe.source[0], logged.train(without=k))
    val = nba.concat(recipe.source[1], logged.validation(without=k))
    model = nba.fit_reward_models(train, val, recipe.seed, (recipe.variant,))[recipe.variant]
    predict = partial(positive_proba, model)
    return nba.policy_arrays(logged.fold(k), recipe.predict_risk, predict, recipe.config)


def cross_fitted_arrays(
    recipe: Recipe, logged: LoggedSets, progress: FoldProgress | None = None
) -> dict[str, np.ndarray]:
    """Every fold's :func:`fold_arrays`, stacked (rows in fold order)."""
    parts = []
    for k in range(FOLDS):
        if progress is not None:
            progress(k, FOLDS)
        parts.append(fold_arrays(recipe, logged, k))
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def report(
    arrays: dict[str, np.ndarray], logged: LoggedSets, resamples: int = RESAMPLES
) -> dict[str, Any]:
    """IPS, SNIPS, DR (+ bootstrap 95% intervals, ESS) of cross-fitted arrays, and how
    they were made: the manifest's ``metrics.nba`` of a version trained ``--from-log``."""
    out = nba.summarize(arrays, resamples)
    out["ope"] = f"cross-fitted: {FOLDS} folds of the log by decision-id hash"
    out["folds"] = FOLDS
    out["resamples"] = resamples
    out["logged_through"] = logged.logged_through
    return out


def cross_fitted(
    recipe: Recipe,
    logged: LoggedSets,
    resamples: int = RESAMPLES,
    progress: FoldProgress | None = None,
) -> dict[str, Any]:
    """:func:`report` of :func:`cross_fitted_arrays`: every logged row scored by the fold
    model that did not see it."""
    return report(cross_fitted_arrays(recipe, logged, progress), logged, resamples)
