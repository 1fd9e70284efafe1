"""The training distributions a version's manifest keeps (``Manifest.distributions``).

Computed by the pipeline from what it already holds: the escalation training matrix
(every escalation input), the escalation model's probabilities on it, the reward model's
per-action predicted success on the training decisions, and the served policy's action
probabilities on those decisions (:mod:`modelio.policy`, as the server would choose).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
from lightgbm import LGBMClassifier

from modelio.context import ESCALATION_INPUTS
from modelio.distributions import Binned, TrainingDistributions, fit_binned
from modelio.policy import PolicyConfig
from modelio.vocab import ACTIONS
from training.data import inputs
from training.fit import nba
from training.fit.escalation import positive_proba

ESCALATION_SCORE = "escalation_probability"


def score_name(action: str) -> str:
    """Name of the reward model's predicted success of ``action`` (``score_<action>``)."""
    return f"score_{action}"


SCORE_NAMES: tuple[str, ...] = (ESCALATION_SCORE, *(score_name(a) for a in ACTIONS))


def binned_columns(x: np.ndarray, names: Sequence[str]) -> dict[str, Binned]:
    """:func:`modelio.distributions.fit_binned` of every column of ``x``."""
    if x.shape[1] != len(names):
        raise ValueError(f"{x.shape[1]} columns but {len(names)} names")
    return {name: fit_binned(x[:, j]) for j, name in enumerate(names)}


def training_distributions(
    escalation_set: tuple[np.ndarray, np.ndarray],
    predict_risk: Callable[[np.ndarray], np.ndarray],
    reward: LGBMClassifier,
    decisions: nba.PolicyData,
    policy: PolicyConfig,
) -> TrainingDistributions:
    """Bins of every input and score, the policy's action mix and the outcome rates.

    ``escalation_set`` is the (inputs, escalated) training split; ``decisions`` the
    reward model's training decisions (their ``reward`` is the logged success)."""
    x, escalated = escalation_set
    risk_tickets = np.asarray(predict_risk(x), dtype=np.float64).reshape(-1)
    scores = nba.score_all_actions(partial(positive_proba, reward), decisions)
    risk = np.asarray(
        predict_risk(inputs.escalation_matrix(decisions.encoded, decisions.inputs)),
        dtype=np.float64,
    ).reshape(-1)
    mix = nba.policy_matrix(scores, risk, decisions, policy).mean(axis=0)
    score_bins = {ESCALATION_SCORE: fit_binned(risk_tickets)}
    score_bins.update(binned_columns(scores, [score_name(a) for a in ACTIONS]))
    return TrainingDistributions(
        rows=len(x),
        # the turn's inputs only: the monitor compares them with the logged ones, which
        # are those whatever the version's layout (conversation inputs come after them)
        inputs=binned_columns(x[:, : len(ESCALATION_INPUTS)], ESCALATION_INPUTS),
        scores=score_bins,
        action_mix={a: round(float(s), 6) for a, s in zip(ACTIONS, mix, strict=True)},
        rates={
            "escalation": float(np.mean(escalated)),
            "resolution": float(np.mean(decisions.reward)),
        },
    )
