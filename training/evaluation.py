"""Holdout metrics of the shipped ONNX models (``python -m training evaluate``).

The holdout is rebuilt from the data exactly as ``train`` split it (the manifest's
time window and the customer hash), encoded with the manifest's defaults, and scored by
the ONNX graphs the server loads — so the numbers describe what ships.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from modelio.manifest import load_manifest, uses_conversation
from modelio.store import open_store
from training.data import inputs
from training.data.frames import data_hash, load_frames, split_by_time
from training.data.turn_rows import escalation_rows, model_inputs
from training.export import graphs
from training.fit import nba
from training.fit.escalation import escalation_metrics
from training.fit.segment import segment_metrics, segment_sets
from training.pipeline import DEFAULT_SEED

log = logging.getLogger(__name__)


def evaluate_version(
    version_dir: Path, data_dir: Path, repo: Path, kind: str = "sqlite"
) -> dict[str, Any]:
    """Holdout metrics of the ONNX models in ``version_dir`` (see module docstring)."""
    from training.feast_ops import apply_repo

    manifest = load_manifest(version_dir)
    apply_repo(repo, kind)
    frames = load_frames(data_dir, open_store(repo, kind), manifest.feature_service)
    frames.window = dict(manifest.training_window)
    defaults = dict(manifest.defaults)
    run = {k: graphs.predictor(version_dir / m.path, m.output) for k, m in manifest.models.items()}

    names = model_inputs(uses_conversation(manifest))
    _, _, rows = split_by_time(escalation_rows(frames), frames.window)
    x_esc = inputs.escalation_matrix(inputs.encode_frame(rows, defaults), names)
    p_true = rows["p_escalate"].to_numpy() if "p_escalate" in rows else None
    esc = escalation_metrics(
        rows["escalated"].to_numpy(dtype=np.int64), run["escalation"](x_esc), p_true
    )

    _, x_seg, truth = segment_sets(frames, defaults)
    seg = segment_metrics(x_seg, run["segment"](x_seg), truth, len(manifest.segments), DEFAULT_SEED)

    _, _, decisions = split_by_time(frames.decisions, frames.window)
    data = nba.policy_data(decisions, defaults, manifest.policy, names)
    policy = nba.evaluate_policy(data, run["escalation"], run["nba"], manifest.policy)
    same_data = data_hash(data_dir) == manifest.data_hash
    return {
        "version": manifest.version,
        "same_data_as_training": same_data,
        "escalation": esc,
        "segment": seg,
        "nba": policy,
    }
