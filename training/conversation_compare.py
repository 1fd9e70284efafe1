"""Do the conversation features help? Both layouts trained on the same data, scored on
the simulator's truth (``python -m training compare-conversation``).

The escalation and reward models are fitted twice on the same point-in-time rows (the
decided turns, split by time as ``train`` splits them), once with the conversation
state's inputs and once without; the time-ordered test slice is then scored against the
ground truth:

* escalation: AUC against the drawn outcomes, and against the truth itself the log loss
  and the squared error of the predicted probability from the true ``p_escalate``;
* next best action: the TRUE value (mean true P(success) of the chosen action) of the
  greedy policy each pair of models induces through the shared policy
  (:func:`modelio.policy.action_probabilities`, ε = 0: eligibility, forced handoff by
  the model's risk or the sentiment, and the no-repeat rule for failed actions).

Differences (with - without) get 95 % paired percentile-bootstrap intervals (test rows
resampled). Figures are given for all test turns and for the later turns only (those
with an earlier turn, where the state exists). Written as JSON with a PNG next to it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from modelio.conversation import CONVERSATION_INPUTS
from modelio.policy import PolicyConfig
from training.data import inputs
from training.data.frames import Frames, split_by_time
from training.data.turn_rows import escalation_rows, model_inputs
from training.fit import nba
from training.fit.escalation import fit_escalation, positive_proba
from training.sim.summary import auc

VARIANTS = {"with": True, "without": False}
_EPS = 1e-7


def _logloss(p_true: np.ndarray, p: np.ndarray) -> float:
    """Expected log loss of ``p`` when outcomes are drawn from ``p_true``."""
    q = np.clip(p, _EPS, 1.0 - _EPS)
    return float(np.mean(-(p_true * np.log(q) + (1.0 - p_true) * np.log1p(-q))))


ESCALATION_METRICS = (
    "escalation_auc",
    "escalation_logloss_vs_truth",
    "escalation_mse_vs_truth",
)


def _metrics(a: dict[str, np.ndarray], idx: np.ndarray, part: str) -> dict[str, float]:
    """The compared figures of one variant's per-row arrays on rows ``idx`` of ``part``
    (``escalation``: the turns the risk is predicted at; ``nba``: the decided turns)."""
    if part == "nba":
        return {"nba_true_value": float(np.mean(a["value"][idx]))}
    risk, truth = a["risk"][idx], a["p_escalate"][idx]
    return {
        "escalation_auc": auc(risk, a["escalated"][idx]),
        "escalation_logloss_vs_truth": _logloss(truth, risk),
        "escalation_mse_vs_truth": float(np.mean((risk - truth) ** 2)),
    }


def _fit_variant(
    esc: list[tuple[np.ndarray, np.ndarray]],
    sets: list[nba.PolicyData],
    config: PolicyConfig,
    seed: int,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], str]:
    """Fit escalation + reward models on train/validation; (escalation test arrays,
    nba test arrays, the reward model variant kept)."""
    (x, y), (x_val, y_val), (x_test, _) = esc
    escalation = fit_escalation(x, y, x_val, y_val, seed)
    models = nba.fit_reward_models(sets[0], sets[1], seed)
    best, _ = nba.select_reward_model(models, sets[1], escalation.predict, config)
    test = sets[2]
    risk = escalation.predict(inputs.escalation_matrix(test.encoded, test.inputs))
    q_hat = nba.score_all_actions(partial(positive_proba, models[best]), test)
    greedy = config.model_copy(update={"epsilon": 0.0})
    pi = nba.policy_matrix(q_hat, risk, test, greedy)
    assert test.p_true is not None
    value = (pi * test.p_true).sum(axis=1)
    return {"risk": escalation.predict(x_test)}, {"value": value}, best


def compare_frames(
    frames: Frames,
    defaults: dict[str, float],
    config: PolicyConfig,
    seed: int = 7,
    resamples: int = 1000,
    progress: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    """The comparison (module docstring) on joined frames; needs the simulator's truth."""
    rows = escalation_rows(frames)
    if "p_escalate" not in rows or "escalated" not in frames.decisions:
        raise ValueError("the comparison needs per-turn truth (simulated data)")
    esc_parts = split_by_time(rows, frames.window)
    encoded = [inputs.encode_frame(p, defaults) for p in esc_parts]
    esc_labels = [p["escalated"].to_numpy(dtype=np.int64) for p in esc_parts]
    dec_parts = split_by_time(frames.decisions, frames.window)
    full = [nba.policy_data(p, defaults, config, model_inputs(True)) for p in dec_parts]
    if full[2].p_true is None:
        raise ValueError("the comparison needs the true success probabilities (simulated data)")
    shared = {
        "escalation": {
            "escalated": esc_labels[2].astype(bool),
            "p_escalate": esc_parts[2]["p_escalate"].to_numpy(dtype=np.float64),
        },
        "nba": {},
    }
    arrays: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    kept: dict[str, str] = {}
    for name, conversation in VARIANTS.items():
        progress(f"fitting the models {name} conversation features")
        names = model_inputs(conversation)
        esc = [
            (inputs.escalation_matrix(e, names), y)
            for e, y in zip(encoded, esc_labels, strict=True)
        ]
        sets = [replace(d, inputs=names) for d in full]
        esc_arrays, nba_arrays, kept[name] = _fit_variant(esc, sets, config, seed)
        arrays[name] = {
            "escalation": {**shared["escalation"], **esc_arrays},
            "nba": {**shared["nba"], **nba_arrays},
        }
    later = {
        "escalation": esc_parts[2]["has_conversation"].to_numpy() == 1.0,
        "nba": dec_parts[2]["has_conversation"].to_numpy() == 1.0,
    }
    out: dict[str, Any] = {
        "rows": {
            "escalation": [len(p) for p in esc_parts],
            "nba": [len(p) for p in dec_parts],
            "split": "train, validation, test (by time, as train splits)",
        },
        "conversation_inputs": list(CONVERSATION_INPUTS),
        "reward_model": kept,
        "resamples": resamples,
    }
    rng = np.random.default_rng(seed)
    for label in ("all_turns", "later_turns"):
        progress(f"bootstrap: {label.replace('_', ' ')}")
        report: dict[str, Any] = {}
        for part in ("escalation", "nba"):
            mask = later[part] if label == "later_turns" else np.ones_like(later[part])
            idx = np.flatnonzero(mask)
            report[part] = _slice_report(
                {k: v[part] for k, v in arrays.items()}, idx, part, rng, resamples
            )
        report["truth"] = _truth(shared["escalation"], later, label, full[2])
        out[label] = report
    return out


def _truth(
    esc: dict[str, np.ndarray], later: dict[str, np.ndarray], label: str, test: nba.PolicyData
) -> dict[str, float]:
    """The oracle's figures on the slice (true probabilities as the scores)."""
    e = later["escalation"] if label == "later_turns" else np.ones_like(later["escalation"])
    d = later["nba"] if label == "later_turns" else np.ones_like(later["nba"])
    p = esc["p_escalate"][e]
    assert test.p_true is not None
    truth = test.p_true[d]
    return {
        "escalation_oracle_auc": round(auc(p, esc["escalated"][e]), 5),
        "escalation_logloss_of_truth": round(_logloss(p, p), 5),
        "nba_oracle_value": round(float(np.where(test.masks[d], truth, -np.inf).max(1).mean()), 5),
        "nba_logging_value": round(float(truth[np.arange(len(truth)), test.actions[d]].mean()), 5),
    }


def _slice_report(
    arrays: dict[str, dict[str, np.ndarray]],
    idx: np.ndarray,
    part: str,
    rng: np.random.Generator,
    resamples: int,
) -> dict[str, Any]:
    """Both variants' figures on rows ``idx`` and the paired-bootstrap differences."""
    point = {name: _metrics(a, idx, part) for name, a in arrays.items()}
    draws: dict[str, list[float]] = {k: [] for k in point["with"]}
    for _ in range(resamples):
        pick = idx[rng.integers(0, len(idx), len(idx))]
        with_, without = (
            _metrics(arrays["with"], pick, part),
            _metrics(arrays["without"], pick, part),
        )
        for key in draws:
            draws[key].append(with_[key] - without[key])
    return {
        "n": len(idx),
        "with": _rounded(point["with"]),
        "without": _rounded(point["without"]),
        "difference": {
            key: {
                "estimate": round(point["with"][key] - point["without"][key], 5),
                "ci95": [round(float(v), 5) for v in np.percentile(values, [2.5, 97.5])],
            }
            for key, values in draws.items()
        },
    }


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 5) for k, v in values.items()}


def write_report(result: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """``out`` (JSON, sorted keys) and the PNG next to it (same stem)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    png = out.with_suffix(".png")
    plot_report(result, png)
    return out, png


def plot_report(result: dict[str, Any], path: Path) -> None:
    """Differences (with - without) and their 95 % intervals, per metric and slice."""
    from training.export.card import plt, save_figure

    diffs = {
        part: {**result[part]["escalation"]["difference"], **result[part]["nba"]["difference"]}
        for part in ("all_turns", "later_turns")
    }
    keys = list(diffs["all_turns"])
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.6))
    better = {"escalation_logloss_vs_truth": "lower", "escalation_mse_vs_truth": "lower"}
    for ax, key in zip(axes, keys, strict=True):
        for i, part in enumerate(("all_turns", "later_turns")):
            d = diffs[part][key]
            lo, hi = d["ci95"]
            ax.errorbar(
                [i], [d["estimate"]], yerr=[[d["estimate"] - lo], [hi - d["estimate"]]], fmt="o"
            )
        ax.axhline(0.0, color="k", lw=0.8, ls=":")
        ax.set_xticks([0, 1], ["all turns", "later turns"])
        ax.set_xlim(-0.5, 1.5)
        ax.set_title(f"{key}\n(with - without; {better.get(key, 'higher')} is better)", fontsize=8)
    fig.suptitle("Conversation features: difference with 95% bootstrap interval", fontsize=9)
    save_figure(fig, path)
