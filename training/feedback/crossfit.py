"""Cross-fitted off-policy value of a version trained ``--from-log``, on every logged row.

A version trained on the log cannot be scored on its own training rows (its reward model
flatters the actions it picks, and DR inherits that optimism), and holding a share of
the log out leaves few rows for an estimate whose variance is ruled by a few large
importance weights: a candidate far from the logging policy takes, on about one row in a
hundred, an action the logger explored with propensity ε/k (ε = 0.05, k eligible
actions), and that row weighs (1 - ε + ε/k)/(ε/k): 116-134 for k = 6-7. So the estimate
is cross-fitted instead (as in double machine learning): the logged rows are split into
FOLDS folds by decision-id hash (:mod:`training.feedback.logged`), and for each fold the
reward model is fitted again, by the same recipe, on the source history and the other
folds (their training and validation rows; the fold's own rows are in neither), and that
model's policy is scored on the fold. Every logged row is then scored by a policy that
never saw it, and IPS, SNIPS and DR are computed over all of them, with a bootstrap over
rows.

Each fold fits both variants of the reward model, plain and propensity-weighted, and the
plain one is served unless the weighted one's cross-fitted DR beats it by more than
twice the standard error of their paired difference (:func:`best_variant`). Choosing
the higher of two estimates instead flips a coin: on replay logs they differed by
0.0003-0.0005 while the versions' true values differed by 0.01-0.02, and a choice by
validation SNIPS (as ``train`` makes on the source history) is noisier still. The
estimate is of the recipe fitted on (FOLDS-1)/FOLDS of the log, a close stand-in for
the served version fitted on all of it, not that version itself; docs/learning-loop.md
compares it with the served version's true value in replays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from modelio.policy import PolicyConfig
from training.feedback.logged import FOLDS, LoggedSets
from training.fit import nba, ope
from training.fit.escalation import positive_proba

RESAMPLES = 500

#: One fold's progress: (fold, folds) -> None.
FoldProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class Recipe:
    """How the served reward model is fitted, to fit each fold's the same way."""

    source: tuple[nba.PolicyData, nba.PolicyData]  # the history's training, validation rows
    predict_risk: nba.Predict
    config: PolicyConfig
    seed: int
    variants: tuple[str, ...] = nba.VARIANTS


Arrays = dict[str, np.ndarray]


def fold_arrays(recipe: Recipe, logged: LoggedSets, k: int) -> dict[str, Arrays]:
    """Fold ``k`` scored by each variant's reward model fitted without it (source + the
    other folds' training and validation rows)."""
    train = nba.concat(recipe.source[0], logged.train(without=k))
    val = nba.concat(recipe.source[1], logged.validation(without=k))
    models = nba.fit_reward_models(train, val, recipe.seed, recipe.variants)
    held = logged.fold(k)
    return {
        name: nba.policy_arrays(
            held, recipe.predict_risk, partial(positive_proba, model), recipe.config
        )
        for name, model in models.items()
    }


def cross_fitted_arrays(
    recipe: Recipe, logged: LoggedSets, progress: FoldProgress | None = None
) -> dict[str, Arrays]:
    """Every fold's :func:`fold_arrays`, stacked per variant (rows in fold order)."""
    parts = []
    for k in range(FOLDS):
        if progress is not None:
            progress(k, FOLDS)
        parts.append(fold_arrays(recipe, logged, k))
    return {
        name: {key: np.concatenate([part[name][key] for part in parts]) for key in parts[0][name]}
        for name in recipe.variants
    }


#: The variant served unless another one is shown better (the simpler fit, no weights).
DEFAULT_VARIANT = "unweighted"
#: How many standard errors of the paired DR difference another variant must gain.
MARGIN_SE = 2.0


def paired_gain(arrays: dict[str, Arrays], name: str) -> tuple[float, float]:
    """Mean and standard error of the per-row DR gain of ``name`` over the default."""
    diff = ope.dr_terms(**arrays[name]) - ope.dr_terms(**arrays[DEFAULT_VARIANT])
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff)))


def variant_gains(arrays: dict[str, Arrays]) -> dict[str, tuple[float, float]]:
    """:func:`paired_gain` of every variant but the default (none without the default)."""
    if DEFAULT_VARIANT not in arrays:
        return {}
    return {name: paired_gain(arrays, name) for name in arrays if name != DEFAULT_VARIANT}


def best_variant(
    arrays: dict[str, Arrays], gains: dict[str, tuple[float, float]] | None = None
) -> str:
    """DEFAULT_VARIANT, or the variant with the largest gain over it if that gain is
    more than MARGIN_SE standard errors (every variant scored on the same rows);
    ``gains``: :func:`variant_gains` of ``arrays``, when already computed."""
    if DEFAULT_VARIANT not in arrays:
        return max(arrays, key=lambda name: ope.ope_estimates(**arrays[name])["dr"])
    gains = variant_gains(arrays) if gains is None else gains
    shown = {name: gain for name, (gain, se) in gains.items() if gain > MARGIN_SE * se}
    return max(shown, key=shown.__getitem__) if shown else DEFAULT_VARIANT


def report(
    arrays: dict[str, Arrays], logged: LoggedSets, resamples: int = RESAMPLES
) -> dict[str, Any]:
    """IPS, SNIPS, DR (+ bootstrap 95% intervals, ESS) of the best variant's cross-fitted
    arrays, every variant's DR, and how they were made: the manifest's ``metrics.nba``
    of a version trained ``--from-log`` (``reward_model``: the variant to serve)."""
    gains = variant_gains(arrays)
    best = best_variant(arrays, gains)
    out = nba.summarize(arrays[best], resamples)
    out["reward_model"] = best
    out["variant_dr"] = {name: round(ope.ope_estimates(**a)["dr"], 5) for name, a in arrays.items()}
    if DEFAULT_VARIANT in arrays:  # [mean, s.e.] of the per-row DR gain over the default
        out["variant_gain"] = {name: [round(x, 5) for x in g] for name, g in gains.items()}
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
    models that did not see it."""
    return report(cross_fitted_arrays(recipe, logged, progress), logged, resamples)
