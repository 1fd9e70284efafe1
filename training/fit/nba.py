"""Next-best-action: a reward model P(success | x, action) and the served policy on top.

The reward model is LightGBM on NBA_INPUTS (escalation inputs + action one-hot), fitted
on logged decisions. Two variants are fitted — plain, and weighted by 1/propensity
(clipped at MAX_WEIGHT) to undo the logging policy's preferences — and the one whose
greedy policy has the higher SNIPS value on the validation logs is kept (no ground truth
is used for the choice). The policy is :mod:`modelio.policy`: eligibility rules, forced
handoff by the escalation model's risk or by sentiment, argmax, ε-exploration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier

from modelio.context import ACTION_INPUTS, ESCALATION_INPUTS
from modelio.policy import (
    Eligibility,
    PolicyConfig,
    action_probabilities,
    eligibility_of,
    eligible_mask,
)
from modelio.vocab import ACTIONS
from training.data import inputs
from training.data.conversation import failed_sets
from training.data.frames import TRUE_SUCCESS
from training.fit import ope
from training.fit.escalation import fit_lgbm, positive_proba

MAX_WEIGHT = 20.0
Predict = Callable[[np.ndarray], np.ndarray]
_ACTION_INDEX = {a: i for i, a in enumerate(ACTIONS)}


def eligibility(raw: Mapping[str, Any]) -> Eligibility:
    """What the policy rules need from the raw features: the served rule, shared."""
    return eligibility_of(raw)


@dataclass
class PolicyData:
    """A decision log encoded for the policy: inputs, eligibility, logged action/reward."""

    encoded: list[dict[str, float]]
    masks: np.ndarray  # n x 7 bool
    sentiment: np.ndarray
    actions: np.ndarray  # index into ACTIONS
    propensity: np.ndarray
    reward: np.ndarray
    p_true: np.ndarray | None  # n x 7 true P(success) when the truth is known
    #: The escalation-input layout the models take (nba: these + the action one-hots).
    inputs: tuple[str, ...] = ESCALATION_INPUTS

    @property
    def nba_inputs(self) -> tuple[str, ...]:
        """The reward model's input layout."""
        return self.inputs + ACTION_INPUTS


def concat(first: PolicyData, second: PolicyData) -> PolicyData:
    """Both decision sets as one (true success only when both have it)."""
    if first.inputs != second.inputs:
        raise ValueError("decision sets with different input layouts")
    truth = None
    if first.p_true is not None and second.p_true is not None:
        truth = np.concatenate([first.p_true, second.p_true])
    return PolicyData(
        encoded=[*first.encoded, *second.encoded],
        masks=np.concatenate([first.masks, second.masks]),
        sentiment=np.concatenate([first.sentiment, second.sentiment]),
        actions=np.concatenate([first.actions, second.actions]),
        propensity=np.concatenate([first.propensity, second.propensity]),
        reward=np.concatenate([first.reward, second.reward]),
        p_true=truth,
        inputs=first.inputs,
    )


def subset(data: PolicyData, keep: np.ndarray) -> PolicyData:
    """The decisions where the boolean mask ``keep`` is True."""
    rows = np.flatnonzero(keep)
    return PolicyData(
        encoded=[data.encoded[i] for i in rows],
        masks=data.masks[rows],
        sentiment=data.sentiment[rows],
        actions=data.actions[rows],
        propensity=data.propensity[rows],
        reward=data.reward[rows],
        p_true=None if data.p_true is None else data.p_true[rows],
        inputs=data.inputs,
    )


def policy_data(
    frame: pd.DataFrame,
    defaults: Mapping[str, float],
    config: PolicyConfig,
    names: tuple[str, ...] = ESCALATION_INPUTS,
) -> PolicyData:
    """Encode logged decisions (rows of the decisions frame) for training and OPE.

    The eligibility masks apply the served rules, the conversation's no-repeat rule
    included (actions that failed earlier in the conversation), whatever ``names``."""
    raws = inputs.raw_records(frame)
    failed = failed_sets(frame)
    masks = np.array(
        [eligible_mask(eligibility(r), config, f) for r, f in zip(raws, failed, strict=True)],
        dtype=bool,
    )
    has_truth = all(c in frame.columns for c in TRUE_SUCCESS)
    return PolicyData(
        encoded=inputs.encode_frame(frame, defaults),
        masks=masks.reshape(len(raws), len(ACTIONS)),
        sentiment=frame["sentiment"].to_numpy(dtype=np.float64),
        actions=frame["action"].map(_ACTION_INDEX).to_numpy(dtype=np.int64),
        propensity=frame["propensity"].to_numpy(dtype=np.float64),
        reward=frame["success"].to_numpy(dtype=np.float64),
        p_true=frame[list(TRUE_SUCCESS)].to_numpy(dtype=np.float64) if has_truth else None,
        inputs=names,
    )


def score_all_actions(predict_success: Predict, data: PolicyData) -> np.ndarray:
    """Predicted success of every action: one (n·7)-row batch, reshaped to n x 7."""
    batch = inputs.all_actions_matrix(data.encoded, data.nba_inputs)
    return np.asarray(predict_success(batch), dtype=np.float64).reshape(-1, len(ACTIONS))


def policy_matrix(
    scores: np.ndarray, risk: np.ndarray, data: PolicyData, config: PolicyConfig
) -> np.ndarray:
    """π(a|x) for every logged context via modelio.policy.action_probabilities."""
    rows = [
        action_probabilities(s.tolist(), m.tolist(), float(r), float(sent), config)
        for s, m, r, sent in zip(scores, data.masks, risk, data.sentiment, strict=True)
    ]
    return np.asarray(rows, dtype=np.float64).reshape(-1, len(ACTIONS))


def policy_arrays(
    data: PolicyData, predict_risk: Predict, predict_success: Predict, config: PolicyConfig
) -> dict[str, np.ndarray]:
    """π (n x 7) of the served policy with these models, q̂ (n x 7) and the logged
    actions, propensities and rewards: the arrays :func:`training.fit.ope.ope_estimates`
    takes."""
    risk = np.asarray(
        predict_risk(inputs.escalation_matrix(data.encoded, data.inputs)), dtype=np.float64
    )
    q_hat = score_all_actions(predict_success, data)
    return {
        "pi": policy_matrix(q_hat, risk.reshape(-1), data, config),
        "q_hat": q_hat,
        "actions": data.actions,
        "propensity": data.propensity,
        "reward": data.reward,
    }


def summarize(arrays: dict[str, np.ndarray], resamples: int = 0) -> dict[str, Any]:
    """OPE estimates of ``arrays``; with ``resamples`` > 0 also bootstrap 95% intervals
    (``ips_ci``, ``snips_ci``, ``dr_ci``, ``logged_reward_ci``)."""
    out: dict[str, Any] = dict(ope.ope_estimates(**arrays))
    if resamples:
        ci = ope.bootstrap(arrays, resamples, seed=7)
        keys = ("ips", "snips", "dr", "logged_reward")
        out.update({f"{k}_ci": [round(x, 5) for x in ci[k]] for k in keys})
    out["n"] = len(arrays["actions"])
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in out.items()}


def evaluate_policy(
    data: PolicyData,
    predict_risk: Predict,
    predict_success: Predict,
    config: PolicyConfig,
    resamples: int = 0,
) -> dict[str, Any]:
    """:func:`summarize` of the served policy on a decision log, plus its true values
    when the truth is known."""
    arrays = policy_arrays(data, predict_risk, predict_success, config)
    out = summarize(arrays, resamples)
    if data.p_true is not None:
        truth = ope.true_values(arrays["pi"], data.p_true, data.masks, data.actions)
        out.update({k: round(v, 5) for k, v in truth.items()})
    return out


def _weights(data: PolicyData) -> np.ndarray:
    return np.minimum(1.0 / data.propensity, MAX_WEIGHT)


#: The reward model's variants: plain, and weighted by 1/propensity (clipped).
VARIANTS = ("unweighted", "ips_weighted")


def fit_reward_models(
    train: PolicyData, val: PolicyData, seed: int, variants: tuple[str, ...] = VARIANTS
) -> dict[str, LGBMClassifier]:
    """Fit the reward model's ``variants`` (early stopping on val)."""
    x, x_val = (
        inputs.nba_matrix(d.encoded, [ACTIONS[a] for a in d.actions], d.nba_inputs)
        for d in (train, val)
    )
    models = {}
    for name in variants:
        weighted = name == "ips_weighted"
        models[name] = fit_lgbm(
            x, train.reward, x_val, val.reward, seed,
            _weights(train) if weighted else None, _weights(val) if weighted else None,
        )  # fmt: skip
    return models


def select_reward_model(
    models: Mapping[str, Any], val: PolicyData, predict_risk: Predict, config: PolicyConfig
) -> tuple[str, dict[str, dict[str, float]]]:
    """Name of the variant with the best validation SNIPS, and every variant's report."""
    reports = {
        name: evaluate_policy(val, predict_risk, partial(positive_proba, model), config)
        for name, model in models.items()
    }
    best = max(reports, key=lambda name: reports[name]["snips"])
    return best, reports
