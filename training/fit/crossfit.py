"""Cross-fitted reward estimates for doubly robust off-policy evaluation.

DR needs q̂(x, a), an estimate of the reward of every action. Taking it from the
candidate's own reward model is biased upward exactly where it matters: the candidate
picks the actions its model scores highest, and on rows that model was fitted to those
scores are optimistic (winner's curse plus overfit). A cross-fitted q̂ is fitted on
other rows than the ones it scores (K folds), with no say in which action the
candidate picks, so DR's direct part is not flattered and its correction term has
out-of-sample residuals (Chernozhukov et al.'s cross-fitting).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from modelio.vocab import ACTIONS
from training.data import inputs
from training.fit.escalation import fit_lgbm, positive_proba
from training.fit.nba import PolicyData, score_all_actions

FOLDS = 2
#: Share of each fold's fitting rows held back for early stopping.
EARLY_STOPPING_SHARE = 0.2


def subset(data: PolicyData, rows: np.ndarray) -> PolicyData:
    """The logged decisions ``rows`` of ``data``."""
    return PolicyData(
        encoded=[data.encoded[i] for i in rows],
        masks=data.masks[rows],
        sentiment=data.sentiment[rows],
        actions=data.actions[rows],
        propensity=data.propensity[rows],
        reward=data.reward[rows],
        p_true=None if data.p_true is None else data.p_true[rows],
    )


def _matrix(data: PolicyData) -> np.ndarray:
    return inputs.nba_matrix(data.encoded, [ACTIONS[a] for a in data.actions])


def crossfit_q_hat(data: PolicyData, folds: int = FOLDS, seed: int = 7) -> np.ndarray:
    """q̂ (n x 7) where each row is scored by a model fitted without that row."""
    n = len(data.actions)
    rng = np.random.default_rng(seed)
    fold = rng.integers(0, folds, n)
    q_hat = np.empty((n, len(ACTIONS)), dtype=np.float64)
    for k in range(folds):
        held = np.flatnonzero(fold == k)
        rest = rng.permutation(np.flatnonzero(fold != k))
        if len(held) == 0:
            continue
        cut = max(1, int(len(rest) * EARLY_STOPPING_SHARE))
        fit, stop = subset(data, rest[cut:]), subset(data, rest[:cut])
        # The reward of (x, a) under any logging policy is the same conditional mean,
        # so q̂ needs no propensity weights; weights would only add variance here.
        model = fit_lgbm(_matrix(fit), fit.reward, _matrix(stop), stop.reward, seed + k)
        q_hat[held] = score_all_actions(partial(positive_proba, model), subset(data, held))
    return q_hat
