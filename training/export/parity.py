"""ONNX-vs-native parity on the holdout: a version is exported only if its graphs agree.

Probabilities may differ by at most PROBABILITY_TOLERANCE (float32 tree sums, see
training.export.graphs.snap_thresholds for why splits never differ); segment labels must be
identical.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from lightgbm import LGBMClassifier
from sklearn.pipeline import Pipeline

from modelio.context import ESCALATION_INPUTS, NBA_INPUTS
from training.export import graphs
from training.fit.escalation import EscalationModel, positive_proba

PROBABILITY_TOLERANCE = 1e-5


class ParityError(RuntimeError):
    """An exported ONNX graph does not reproduce the native model on the holdout."""


def _empty(width: int) -> np.ndarray:
    return np.empty((0, width), dtype=np.float32)


@dataclass
class Holdout:
    """Holdout inputs the parity checks (and tests) compare ONNX and native models on."""

    segment_x: np.ndarray  # consenting holdout customers, SEGMENT_INPUTS
    segment_truth: np.ndarray | None  # their archetypes
    escalation_x: np.ndarray = field(default_factory=lambda: _empty(len(ESCALATION_INPUTS)))
    escalation_y: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    escalation_p_true: np.ndarray | None = None
    nba_x: np.ndarray = field(default_factory=lambda: _empty(len(NBA_INPUTS)))  # test x 7 actions


def check_parity(
    holdout: Holdout,
    paths: Mapping[graphs.ModelKind, Path],
    segment: Pipeline,
    escalation: EscalationModel,
    reward: LGBMClassifier,
) -> dict[str, float]:
    """Compare each ONNX file in ``paths`` with its native model; raise ParityError."""
    h, prob = holdout, graphs.PROBABILITY_OUTPUT
    labels = graphs.predictor(paths["segment"], graphs.LABEL_OUTPUT)(h.segment_x)
    esc = graphs.predictor(paths["escalation"], prob)(h.escalation_x)
    rew = graphs.predictor(paths["nba"], prob)(h.nba_x)
    out = {
        "segment_label_mismatches": int(np.sum(labels != segment.predict(h.segment_x))),
        "escalation_max_abs_diff": float(np.max(np.abs(esc - escalation.predict(h.escalation_x)))),
        "nba_max_abs_diff": float(np.max(np.abs(rew - positive_proba(reward, h.nba_x)))),
    }
    worst = max(out["escalation_max_abs_diff"], out["nba_max_abs_diff"])
    if out["segment_label_mismatches"] or worst > PROBABILITY_TOLERANCE:
        raise ParityError(f"ONNX export does not match the native models: {out}")
    return out
