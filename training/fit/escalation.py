"""Escalation risk: LightGBM on ESCALATION_INPUTS, early-stopped and (if needed) calibrated.

Early stopping uses the validation split (later in time than training). If the raw
model's expected calibration error on validation is above ECE_LIMIT, a Platt scaling in
logit space, ``p' = sigmoid(a·logit(p) + b)``, is fitted on the validation split; it is
exported as a few ONNX nodes after the LightGBM graph (training.export.graphs), so the shipped
graph is the calibrated model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

from training.export.graphs import snap_thresholds

ECE_LIMIT = 0.02
ECE_BINS = 15
_EPS = 1e-7


def lgbm_params(seed: int) -> dict[str, Any]:
    """Shared LightGBM settings: 2 threads, deterministic, silent."""
    return {
        "n_estimators": 2000,
        "learning_rate": 0.03,
        "num_leaves": 31,
        "min_child_samples": 40,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.8,
        "reg_lambda": 1.0,
        "n_jobs": 2,
        "random_state": seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
    }


def fit_lgbm(
    x: np.ndarray,
    y: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    seed: int,
    weight: np.ndarray | None = None,
    weight_val: np.ndarray | None = None,
) -> lgb.LGBMClassifier:
    """Binary LightGBM with early stopping (50 rounds) on the validation log loss."""
    model = lgb.LGBMClassifier(**lgbm_params(seed))
    model.fit(
        x,
        y,
        sample_weight=weight,
        eval_X=(x_val,),
        eval_y=(y_val,),
        eval_sample_weight=None if weight_val is None else [weight_val],
        eval_metric="binary_logloss",
        callbacks=[lgb.early_stopping(50, verbose=False)],
    )
    return snap_thresholds(model)


def positive_proba(model: lgb.LGBMClassifier, x: np.ndarray) -> np.ndarray:
    """P(class 1) of a fitted binary LGBMClassifier."""
    return np.asarray(model.predict_proba(x))[:, 1]


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) with p clipped to [1e-7, 1 - 1e-7]."""
    q = np.clip(p, _EPS, 1.0 - _EPS)
    return np.log(q) - np.log1p(-q)


@dataclass
class EscalationModel:
    """LightGBM + optional logit-space Platt scaling (a, b)."""

    booster: lgb.LGBMClassifier
    calibration: tuple[float, float] | None = None
    info: dict[str, float] = field(default_factory=dict)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(escalated) for each row of a float32 input matrix."""
        p = positive_proba(self.booster, x)
        if self.calibration is None:
            return p
        a, b = self.calibration
        return 1.0 / (1.0 + np.exp(-(a * logit(p) + b)))


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """Weighted mean |observed rate - mean prediction| over equal-width probability bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            total += sel.sum() * abs(float(y[sel].mean()) - float(p[sel].mean()))
    return total / max(len(p), 1)


def fit_calibration(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling on logit(p): returns (a, b)."""
    reg = LogisticRegression(C=1e4, max_iter=1000)
    reg.fit(logit(p).reshape(-1, 1), y)
    return float(reg.coef_[0, 0]), float(reg.intercept_[0])


def fit_escalation(
    x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, seed: int
) -> EscalationModel:
    """Fit, then calibrate on validation if the raw ECE is above ECE_LIMIT and it helps."""
    model = EscalationModel(fit_lgbm(x, y, x_val, y_val, seed))
    p_val = model.predict(x_val)
    raw_ece = expected_calibration_error(y_val, p_val)
    model.info = {"best_iteration": int(model.booster.best_iteration_ or 0), "val_ece_raw": raw_ece}
    if raw_ece > ECE_LIMIT:
        candidate = EscalationModel(model.booster, fit_calibration(p_val, y_val))
        cal_ece = expected_calibration_error(y_val, candidate.predict(x_val))
        model.info["val_ece_calibrated"] = cal_ece
        if cal_ece < raw_ece:
            model.calibration = candidate.calibration
    model.info["calibrated"] = float(model.calibration is not None)
    return model


def escalation_metrics(y: np.ndarray, p: np.ndarray, p_true: np.ndarray | None) -> dict[str, float]:
    """AUC, oracle AUC (true probabilities), ECE and Brier score on a holdout."""
    out = {
        "auc": float(roc_auc_score(y, p)),
        "ece": expected_calibration_error(y, p),
        "brier": float(brier_score_loss(y, p)),
        "base_rate": float(np.mean(y)),
        "n": len(y),
    }
    if p_true is not None:
        out["oracle_auc"] = float(roc_auc_score(y, p_true))
        out["oracle_ece"] = expected_calibration_error(y, p_true)
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in out.items()}
