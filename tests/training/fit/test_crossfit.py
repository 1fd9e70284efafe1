"""The cross-fitted reward estimate scores each row with a model that never saw it."""

from __future__ import annotations

import numpy as np

from modelio.policy import PolicyConfig
from tests.support.candidate import P_SUCCESS, synthetic_log
from training.feedback.logged import policy_data
from training.fit.crossfit import crossfit_q_hat, subset


def test_a_row_s_own_reward_never_moves_its_estimate() -> None:
    data = policy_data(synthetic_log(1200, seed=3).dataset, PolicyConfig())
    base = crossfit_q_hat(data, folds=2, seed=11)
    fold = np.random.default_rng(11).integers(0, 2, len(data.actions))
    flipped = subset(data, np.arange(len(data.actions)))
    held = np.flatnonzero(fold == 0)
    flipped.reward = data.reward.copy()
    flipped.reward[held] = 1.0 - flipped.reward[held]  # change only fold 0's rewards
    again = crossfit_q_hat(flipped, folds=2, seed=11)
    # Fold 0 is scored by the model fitted on fold 1, whose rows did not change.
    np.testing.assert_allclose(again[held], base[held])
    assert not np.allclose(again[fold == 1], base[fold == 1])


def test_estimates_follow_the_true_action_rates() -> None:
    data = policy_data(synthetic_log(3000, seed=4).dataset, PolicyConfig())
    q_hat = crossfit_q_hat(data)
    mean_by_action = q_hat.mean(axis=0)
    assert np.argmax(mean_by_action) == np.argmax(P_SUCCESS)
    assert np.corrcoef(mean_by_action, P_SUCCESS)[0, 1] > 0.9
