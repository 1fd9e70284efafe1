"""The pipeline's next-best-action stage: fit the reward model, choose its variant,
estimate its policy's value (on the source's test decisions, or cross-fitted over the
log with ``--from-log``, :mod:`training.feedback.crossfit`)."""

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
    return reward, _with_choice(metrics, best, val_reports)


def _with_choice(
    metrics: dict[str, Any], best: str, val_reports: dict[str, dict[str, float]]
) -> dict[str, Any]:
    metrics["reward_model"] = best
    metrics["validation_snips"] = {k: v["snips"] for k, v in val_reports.items()}
    return metrics


def train_nba_from_log(
    source: list[nba.PolicyData],
    logged: LoggedSets,
    escalation: EscalationModel,
    policy: PolicyConfig,
    seed: int,
    progress: Progress,
) -> tuple[LGBMClassifier, dict[str, Any]]:
    """The reward model on the source decisions plus every logged one; its estimate is
    the cross-fitted one over the log (no logged row is held out of the served fit)."""
    train, val = nba.concat(source[0], logged.train()), nba.concat(source[1], logged.validation())
    models = nba.fit_reward_models(train, val, seed)
    best, val_reports = nba.select_reward_model(models, val, escalation.predict, policy)
    recipe = Recipe((source[0], source[1]), best, escalation.predict, policy, seed)
    metrics = cross_fitted(
        recipe, logged, progress=lambda k, n: progress.say(f"cross-fitting fold {k + 1}/{n}")
    )
    return models[best], _with_choice(metrics, best, val_reports)
