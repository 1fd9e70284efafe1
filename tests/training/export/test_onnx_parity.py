"""The shipped ONNX graphs reproduce the native models on the holdout.

Probabilities: max abs diff ≤ 1e-5 (escalation incl. its calibration; the reward model
on the test decisions x all 7 actions, scored in one call); segments: identical labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelio.context import (
    ESCALATION_CONVERSATION_INPUTS,
    ESCALATION_INPUTS,
    NBA_CONVERSATION_INPUTS,
    SEGMENT_INPUTS,
)
from modelio.manifest import load_manifest
from modelio.vocab import ACTIONS
from training.export import graphs as export
from training.export.parity import PROBABILITY_TOLERANCE
from training.fit.escalation import positive_proba

from ..conftest import Trained


@pytest.fixture(scope="module")
def sessions(trained: Trained) -> dict[str, export.ort.InferenceSession]:
    manifest = load_manifest(trained.result.version_dir)
    return {
        k: export.session(trained.result.version_dir / m.path) for k, m in manifest.models.items()
    }


def _run(sess: export.ort.InferenceSession, output: str, x: np.ndarray) -> np.ndarray:
    return sess.run([output], {export.INPUT_NAME: x})[0]


def test_graph_signatures(sessions: dict[str, export.ort.InferenceSession]) -> None:
    widths = {
        "segment": len(SEGMENT_INPUTS),
        "escalation": len(ESCALATION_CONVERSATION_INPUTS),  # the default layout
        "nba": len(NBA_CONVERSATION_INPUTS),
    }
    for kind, sess in sessions.items():
        (inp,) = sess.get_inputs()
        assert inp.name == export.INPUT_NAME
        assert inp.type == "tensor(float)"
        assert inp.shape[1] == widths[kind]
        (out,) = sess.get_outputs()
        assert out.type == ("tensor(int64)" if kind == "segment" else "tensor(float)")


def test_segment_labels_identical(trained: Trained, sessions) -> None:
    x = trained.result.holdout.segment_x
    assert len(x) > 100
    onnx_labels = _run(sessions["segment"], export.LABEL_OUTPUT, x)
    assert onnx_labels.dtype == np.int64
    np.testing.assert_array_equal(onnx_labels, trained.result.segment.pipeline.predict(x))


def test_escalation_probabilities_match(trained: Trained, sessions) -> None:
    x = trained.result.holdout.escalation_x
    onnx_p = _run(sessions["escalation"], export.PROBABILITY_OUTPUT, x)
    assert onnx_p.shape == (len(x),)
    native = trained.result.escalation.predict(x)
    assert np.max(np.abs(onnx_p - native)) <= PROBABILITY_TOLERANCE


def test_reward_model_scores_all_actions_in_one_call(trained: Trained, sessions) -> None:
    x = trained.result.holdout.nba_x
    assert len(x) % len(ACTIONS) == 0
    onnx_p = _run(sessions["nba"], export.PROBABILITY_OUTPUT, x)
    native = positive_proba(trained.result.reward, x)
    assert np.max(np.abs(onnx_p - native)) <= PROBABILITY_TOLERANCE
    scores = onnx_p.reshape(-1, len(ACTIONS))
    # every row block is one context with the 7 one-hots in ACTIONS order
    hot = x[:, NBA_CONVERSATION_INPUTS.index(f"action_{ACTIONS[0]}") :].reshape(
        -1, len(ACTIONS), len(ACTIONS)
    )
    assert np.array_equal(hot, np.broadcast_to(np.eye(len(ACTIONS), dtype=np.float32), hot.shape))
    assert scores.shape[1] == len(ACTIONS)


def test_threshold_snapping_keeps_lightgbm_predictions() -> None:
    """Split thresholds rounded down to float32 leave float32-input predictions unchanged."""
    import lightgbm as lgb

    rng = np.random.default_rng(3)
    x = (rng.normal(size=(3000, 6)) * [1, 10, 100, 1e3, 1e-3, 1]).astype(np.float32)
    x[:, 5] = np.round(x[:, 5] * 3)  # integer-valued column, like counts
    y = (x[:, 0] + x[:, 5] / 3 + rng.normal(size=3000) > 0).astype(int)
    model = lgb.LGBMClassifier(n_estimators=60, verbose=-1, n_jobs=1).fit(x, y)
    before = positive_proba(model, x)
    export.snap_thresholds(model)
    np.testing.assert_array_equal(positive_proba(model, x), before)


def test_calibrated_escalation_graph_matches(tmp_path: Path) -> None:
    """The Platt post-processing nodes reproduce EscalationModel.predict."""
    from training.fit.escalation import EscalationModel, fit_lgbm

    rng = np.random.default_rng(4)
    x = rng.normal(size=(4000, len(ESCALATION_INPUTS))).astype(np.float32)
    y = (x[:, 0] + rng.normal(size=4000) > 0.5).astype(int)
    model = EscalationModel(fit_lgbm(x[:3000], y[:3000], x[3000:], y[3000:], seed=1), (0.7, -0.2))
    path = export.save(
        export.lgbm_onnx(model.booster, x.shape[1], model.calibration), tmp_path / "e.onnx"
    )
    onnx_p = export.predictor(path, export.PROBABILITY_OUTPUT)(x)
    native = model.predict(x)
    assert not np.allclose(native, positive_proba(model.booster, x))  # calibration is applied
    assert np.max(np.abs(onnx_p - native)) <= PROBABILITY_TOLERANCE
