"""The pipeline's next-best-action stage: fit the reward model, choose its variant,
estimate its policy's value (on the source's test decisions; with ``--from-log``
cross-fitted over the log, which also chooses the variant:
:mod:`training.feedback.crossfit`)."""

from __future__ import annotations

from functools import partial
from typing import Any

from lightgbm import LGBMClassifier

from modelio.policy import PolicyConfig
from training.feedback.crossfit import Recipe, cross_fitted
from training.feedback.logged import LoggedSets
from training.fit import nba
from training.fit.escalation import EscalationModel, positive_proba
from training.progress import Progress


def train_nba(
    data: list[nba.PolicyData], escalation: EscalationModel, policy: PolicyConfig, seed: int
) -> tuple[LGBMClassifier, dict[str, Any]]:
    """The reward model on the source decisions, its variant chosen by validation SNIPS,
    and its off-policy estimate (+ true values) on the source's test decisions."""
    train, val, test = data
    models = nba.fit_reward_models(train, val, seed)
    best, val_reports = nba.select_reward_model(models, val, escalation.predict, policy)
    reward = models[best]
    metrics: dict[str, Any] = nba.evaluate_policy(
        test, escalation.predict, partial(positive_proba, reward), policy, resamples=200
    )
    metrics["reward_model"] = best
    metrics["validation_snips"] = {k: v["snips"] for k, v in val_reports.items()}
    return reward, metrics


def train_nba_from_log(
    source: list[nba.PolicyData],
    logged: LoggedSets,
    escalation: EscalationModel,
    policy: PolicyConfig,
    seed: int,
    progress: Progress,
) -> tuple[LGBMClassifier, dict[str, Any]]:
    """Cross-fit both reward-model variants over the log, then fit the chosen one
    (:func:`training.feedback.crossfit.best_variant`: the plain model unless the weighted
    one's paired cross-fitted DR gain exceeds two standard errors) on the source
    decisions plus every logged one (no logged row is held out of the served fit); the
    estimate is that variant's cross-fitted one."""
    recipe = Recipe((source[0], source[1]), escalation.predict, policy, seed)
    metrics = cross_fitted(
        recipe, logged, progress=lambda k, n: progress.say(f"cross-fitting fold {k + 1}/{n}")
    )
    best = str(metrics["reward_model"])
    train, val = nba.concat(source[0], logged.train()), nba.concat(source[1], logged.validation())
    return nba.fit_reward_models(train, val, seed, (best,))[best], metrics
