"""Model card (MODEL_CARD.md) and its PNG plots, written next to the ONNX files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_curve

from modelio.context import SEGMENT_INPUTS
from modelio.manifest import Manifest, SegmentName

PLOTS = {
    "roc": "escalation_roc.png",
    "calibration": "escalation_calibration.png",
    "segments": "segment_profiles.png",
    "silhouette": "segment_silhouette.png",
    "policy": "policy_values.png",
}


def save_figure(fig: plt.Figure, path: Path) -> None:
    """Lay out, write as PNG and close ``fig``."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_roc(out: Path, y: np.ndarray, p: np.ndarray, p_true: np.ndarray | None) -> None:
    """ROC of the model (and of the true probabilities when known) on the test split."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for label, scores in (("model", p), ("oracle (true p)", p_true)):
        if scores is not None:
            fpr, tpr, _ = roc_curve(y, scores)
            ax.plot(fpr, tpr, label=label)
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="Escalation ROC")
    ax.legend()
    save_figure(fig, out / PLOTS["roc"])


def plot_calibration(out: Path, y: np.ndarray, p: np.ndarray) -> None:
    """Reliability diagram (quantile bins) of the escalation model on the test split."""
    frac, mean = calibration_curve(y, p, n_bins=15, strategy="quantile")
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(mean, frac, "o-", label="model")
    ax.plot([0, 1], [0, 1], "k:", lw=1, label="perfect")
    ax.set(xlabel="predicted P(escalation)", ylabel="observed rate", title="Calibration")
    ax.legend()
    save_figure(fig, out / PLOTS["calibration"])


def plot_segments(
    out: Path, segments: list[SegmentName], mean: np.ndarray, std: np.ndarray
) -> None:
    """Heatmap of each segment's centroid as z-scores of the segment inputs."""
    z = np.array([[s.centroid[n] for n in SEGMENT_INPUTS] for s in segments])
    z = (z - mean) / np.where(std > 0, std, 1.0)
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.5 * len(segments)))
    image = ax.imshow(z, cmap="RdBu_r", vmin=-2.5, vmax=2.5, aspect="auto")
    ax.set_xticks(range(len(SEGMENT_INPUTS)), SEGMENT_INPUTS, rotation=45, ha="right")
    ax.set_yticks(
        range(len(segments)), [f"{s.id}: {s.name} ({s.size_share:.0%})" for s in segments]
    )
    fig.colorbar(image, ax=ax, label="centroid z-score")
    ax.set_title("Segment profiles")
    save_figure(fig, out / PLOTS["segments"])


def plot_silhouette(out: Path, curve: Mapping[int, float], k: int) -> None:
    """Silhouette score per K with the chosen K marked."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ks = sorted(curve)
    ax.plot(ks, [curve[i] for i in ks], "o-")
    ax.axvline(k, color="tab:red", ls="--", label=f"chosen K={k}")
    ax.set(xlabel="K", ylabel="silhouette (sample)", title="Choosing K")
    ax.legend()
    save_figure(fig, out / PLOTS["silhouette"])


def plot_policy(out: Path, nba: Mapping[str, float]) -> None:
    """Bar chart: true values (logging, learned, oracle) beside the OPE estimates."""
    keys = [
        ("logging (true)", "true_value_logging"),
        ("learned (true)", "true_value_learned"),
        ("oracle (true)", "true_value_oracle"),
        ("IPS", "ips"),
        ("SNIPS", "snips"),
        ("DR", "dr"),
    ]
    shown = [(label, nba[key]) for label, key in keys if key in nba]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    colors = ["tab:gray", "tab:blue", "tab:green"] + ["tab:orange"] * 3
    ax.bar([s[0] for s in shown], [s[1] for s in shown], color=colors[: len(shown)])
    for i, (_, value) in enumerate(shown):
        ax.text(i, value, f"{value:.3f}", ha="center", va="bottom")
    ax.set_ylim(0, max((v for _, v in shown), default=1.0) * 1.15)
    ax.tick_params(axis="x", labelsize=8)
    ax.set(ylabel="P(success)", title="Next-best-action policy value (test logs)")
    save_figure(fig, out / PLOTS["policy"])


def _table(values: Mapping[str, Any]) -> str:
    rows = [f"| {k} | {v} |" for k, v in values.items() if not isinstance(v, dict)]
    return "\n".join(["| metric | value |", "|---|---|", *rows])


def model_card(out: Path, manifest: Manifest) -> Path:
    """Write MODEL_CARD.md for ``manifest`` (plots must already be in ``out``)."""
    m = manifest.metrics
    segs = "\n".join(f"| {s.id} | {s.name} | {s.size_share:.1%} |" for s in manifest.segments)
    curve = ", ".join(
        f"K={k}: {v:.3f}" for k, v in m.get("segment", {}).get("silhouette_curve", {}).items()
    )
    window = ", ".join(f"{k}: {v:%Y-%m-%d %H:%M}" for k, v in manifest.training_window.items())
    text = f"""# Model card — {manifest.version}

Feature service `{manifest.feature_service}`; created {manifest.created_at:%Y-%m-%d %H:%M:%S} UTC;
data sha256 `{manifest.data_hash[:16]}…`. Time window ({window}): tickets and decisions
before `validation_start` train, up to `test_start` validate (early stopping,
calibration, reward-model choice), the rest is the test split reported here.

## Escalation risk (LightGBM, test split)
{_table(m.get("escalation", {}))}

![ROC]({PLOTS["roc"]}) ![calibration]({PLOTS["calibration"]})

## Segments (StandardScaler → PCA → KMeans, holdout customers)
{_table(m.get("segment", {}))}

| id | name | share |
|---|---|---|
{segs}

Silhouette by K (sample, standardized inputs): {curve}.
Names follow the rule in docs/training.md and can be edited in manifest.json.

![profiles]({PLOTS["segments"]}) ![silhouette]({PLOTS["silhouette"]})

## Next-best-action (reward model + modelio.policy, {_nba_basis(m.get("nba", {}))})
{_table(m.get("nba", {}))}

![policy values]({PLOTS["policy"]})

## ONNX parity (holdout, ONNX Runtime vs native)
{_table(m.get("parity", {}))}

## Policy
```json
{manifest.policy.model_dump_json(indent=2)}
```

## Limits
Trained on simulated data; the true values come from the simulator's ground truth and
do not exist in production, where only IPS/SNIPS/DR are available.
"""
    path = out / "MODEL_CARD.md"
    path.write_text(text)
    return path


def _nba_basis(nba: dict[str, Any]) -> str:
    """What the card's off-policy figures were computed on."""
    return str(nba["ope"]) if "ope" in nba else "test logs"
