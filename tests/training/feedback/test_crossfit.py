"""Cross-fitted OPE over a logged dataset whose truth is known by construction (uniform
logging, reward ~ Bernoulli(P_SUCCESS[action]) whatever the context): every row is
scored by a fold model that never saw it, and the estimate covers the true value of
the policies that scored the rows."""

from __future__ import annotations

import numpy as np
import pytest
from lightgbm import LGBMClassifier

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
    recipe = crossfit.Recipe(source, _no_risk, PolicyConfig(), seed=3)
    by_variant = crossfit.cross_fitted_arrays(recipe, logged)
    assert set(by_variant) == set(nba.VARIANTS)
    report = crossfit.report(by_variant, logged, resamples=200)
    assert report["n"] == 3000 and report["folds"] == FOLDS
    # the served variant follows the rule on the reported gain, and its DR is the report's
    best = report["reward_model"]
    gain, se = report["variant_gain"]["ips_weighted"]
    assert best == ("ips_weighted" if gain > crossfit.MARGIN_SE * se else "unweighted")
    assert report["dr"] == report["variant_dr"][best]
    arrays = by_variant[best]
    # every fold scored by the model fitted without it: refit fold 0 alone, same policy
    alone = crossfit.fold_arrays(recipe, logged, 0)[best]
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


def test_no_fold_model_sees_its_fold(
    sets: tuple[tuple[nba.PolicyData, nba.PolicyData], LoggedSets],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What each fold's fit gets, captured: neither its training nor its early-stopping
    rows hold a row of the fold it then scores; all other logged rows are in."""
    source, logged = sets
    fitted: list[tuple[nba.PolicyData, nba.PolicyData]] = []
    real_fit = nba.fit_reward_models

    def capture(
        train: nba.PolicyData, val: nba.PolicyData, seed: int, variants: tuple[str, ...]
    ) -> dict[str, LGBMClassifier]:
        fitted.append((train, val))
        return real_fit(train, val, seed, variants)

    monkeypatch.setattr(crossfit.nba, "fit_reward_models", capture)
    recipe = crossfit.Recipe(source, _no_risk, PolicyConfig(), seed=3, variants=("unweighted",))
    crossfit.cross_fitted_arrays(recipe, logged)
    assert len(fitted) == FOLDS
    source_rows = {id(e) for part in source for e in part.encoded}
    every = {id(e) for e in logged.data.encoded}
    for k, (train, val) in enumerate(fitted):
        scored = {id(e) for e in logged.fold(k).encoded}
        seen = {id(e) for e in [*train.encoded, *val.encoded]} - source_rows
        assert not seen & scored, k
        assert seen | scored == every, k
        assert source_rows <= {id(e) for e in [*train.encoded, *val.encoded]}


def _arrays(pi_best: float, n: int, seed: int) -> crossfit.Arrays:
    """Logged rows of a uniform logger over two actions, action 0 better (0.7 vs 0.3);
    a policy putting ``pi_best`` on action 0; a reward model that knows the truth."""
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, 2, n)
    reward = (rng.random(n) < np.where(actions == 0, 0.7, 0.3)).astype(np.float64)
    return {
        "pi": np.tile([pi_best, 1.0 - pi_best], (n, 1)),
        "q_hat": np.tile([0.7, 0.3], (n, 1)),
        "actions": actions,
        "propensity": np.full(n, 0.5),
        "reward": reward,
    }


def test_another_variant_is_served_only_on_evidence() -> None:
    """The default variant stays unless the other's paired DR gain clears MARGIN_SE
    standard errors: a real gain wins, a tie does not, whichever estimate is higher."""
    base = _arrays(0.5, 4000, seed=1)
    better = {**base, "pi": np.tile([0.9, 0.1], (4000, 1))}
    assert crossfit.best_variant({"unweighted": base, "ips_weighted": better}) == "ips_weighted"
    assert crossfit.best_variant({"unweighted": better, "ips_weighted": base}) == "unweighted"
    # the same true value (0.5), rows split at random between the actions: the weighted
    # variant's DR comes out higher (drawn so), but well inside the noise
    flip = np.random.default_rng(7).random(4000) < 0.5
    tie = {**base, "pi": np.where(flip[:, None], [0.9, 0.1], [0.1, 0.9])}
    gain, se = crossfit.paired_gain({"unweighted": base, "ips_weighted": tie}, "ips_weighted")
    assert 0 < gain < crossfit.MARGIN_SE * se
    assert crossfit.best_variant({"unweighted": base, "ips_weighted": tie}) == "unweighted"
