"""Cross-fitted OPE over a logged dataset whose truth is known by construction (uniform
logging, reward ~ Bernoulli(P_SUCCESS[action]) whatever the context): every row is
scored by a fold model that never saw it, and the estimate covers the true value of
the policies that scored the rows."""

from __future__ import annotations

import numpy as np
import pytest

from modelio.policy import PolicyConfig
from tests.support.candidate import P_SUCCESS, synthetic_log
from training.feedback import crossfit
from training.feedback.logged import FOLDS, LoggedSets, logged_sets
from training.fit import nba


def _no_risk(x: np.ndarray) -> np.ndarray:
    return np.zeros(len(x))


@pytest.fixture(scope="module")
def sets() -> tuple[tuple[nba.PolicyData, nba.PolicyData], LoggedSets]:
    config = PolicyConfig()
    source = logged_sets(synthetic_log(600, seed=11, prefix="s").dataset, config)
    return (source.train(), source.validation()), logged_sets(
        synthetic_log(3000, seed=12).dataset, config
    )


def test_folds_partition_the_log(
    sets: tuple[tuple[nba.PolicyData, nba.PolicyData], LoggedSets],
) -> None:
    _, logged = sets
    sizes = [len(logged.fold(k).actions) for k in range(FOLDS)]
    assert sum(sizes) == len(logged) == 3000
    assert min(sizes) > 0.15 * 3000  # hash buckets spread the rows over the folds
    for k in range(FOLDS):
        # fold k's fit sees neither its training nor its validation rows
        seen = len(logged.train(without=k).actions) + len(logged.validation(without=k).actions)
        assert seen == 3000 - sizes[k]
    assert 0.10 * 3000 < len(logged.validation().actions) < 0.20 * 3000


def test_cross_fitted_estimate_covers_the_truth(
    sets: tuple[tuple[nba.PolicyData, nba.PolicyData], LoggedSets],
) -> None:
    source, logged = sets
    recipe = crossfit.Recipe(source, "ips_weighted", _no_risk, PolicyConfig(), seed=3)
    arrays = crossfit.cross_fitted_arrays(recipe, logged)
    report = crossfit.report(arrays, logged, resamples=200)
    assert report["n"] == 3000 and report["folds"] == FOLDS
    # every fold scored by the model fitted without it: refit fold 0 alone, same policy
    alone = crossfit.fold_arrays(recipe, logged, 0)
    np.testing.assert_array_equal(alone["pi"], arrays["pi"][: len(alone["pi"])])
    np.testing.assert_array_equal(alone["actions"], logged.fold(0).actions)
    # the truth of what was estimated: each row under the policy fitted without it
    truth = float(np.mean(arrays["pi"] @ P_SUCCESS))
    for key in ("ips", "snips", "dr"):
        lo, hi = report[f"{key}_ci"]
        assert lo <= truth <= hi, (key, truth, report)
    assert abs(report["dr"] - truth) < 0.1 * truth
    # the learned policies beat the uniform logger, whose observed value is reported too
    assert truth > P_SUCCESS.mean() + 0.1
    lo, hi = report["logged_reward_ci"]
    assert lo <= P_SUCCESS.mean() <= hi
    assert report["logged_through"] == logged.logged_through
