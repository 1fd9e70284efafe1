"""``python -m training evaluate``: score the shipped ONNX models of ``models/current``.

The holdout is rebuilt from the data exactly as ``train`` split it (the manifest's
time window and the customer hash), encoded with the manifest's defaults, and scored by
the ONNX graphs the server loads — so the numbers describe what ships.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from modelio.manifest import ManifestError, current_version_dir, load_manifest
from modelio.store import STORE_KINDS, open_store
from training.data import inputs
from training.data.frames import data_hash, load_frames, split_by_time
from training.export import graphs
from training.fit import nba
from training.fit.escalation import escalation_metrics
from training.fit.segment import segment_metrics, segment_sets
from training.train import DEFAULT_SEED

log = logging.getLogger(__name__)


def evaluate_version(
    version_dir: Path, data_dir: Path, repo: Path, kind: str = "sqlite"
) -> dict[str, Any]:
    """Holdout metrics of the ONNX models in ``version_dir`` (see module docstring)."""
    from training.materialize import apply_repo

    manifest = load_manifest(version_dir)
    apply_repo(repo, kind)
    frames = load_frames(data_dir, open_store(repo, kind), manifest.feature_service)
    frames.window = dict(manifest.training_window)
    defaults = dict(manifest.defaults)
    run = {k: graphs.predictor(version_dir / m.path, m.output) for k, m in manifest.models.items()}

    _, _, tickets = split_by_time(frames.tickets, frames.window)
    x_esc = inputs.escalation_matrix(inputs.encode_frame(tickets, defaults))
    p_true = tickets["p_escalate"].to_numpy() if "p_escalate" in tickets else None
    esc = escalation_metrics(
        tickets["escalated"].to_numpy(dtype=np.int64), run["escalation"](x_esc), p_true
    )

    _, x_seg, truth = segment_sets(frames, defaults)
    seg = segment_metrics(x_seg, run["segment"](x_seg), truth, len(manifest.segments), DEFAULT_SEED)

    _, _, decisions = split_by_time(frames.decisions, frames.window)
    data = nba.policy_data(decisions, defaults, manifest.policy)
    policy = nba.evaluate_policy(data, run["escalation"], run["nba"], manifest.policy)
    same_data = data_hash(data_dir) == manifest.data_hash
    return {
        "version": manifest.version,
        "same_data_as_training": same_data,
        "escalation": esc,
        "segment": seg,
        "nba": policy,
    }


def render(result: dict[str, Any]) -> str:
    """A readable table of the evaluation."""
    lines = [
        f"model version {result['version']}"
        + ("" if result["same_data_as_training"] else "  (data differ from training!)")
    ]
    for section in ("escalation", "segment", "nba"):
        lines.append(f"\n{section}")
        for key, value in result[section].items():
            shown = f"{value:.4f}" if isinstance(value, float) else str(value)
            lines.append(f"  {key:<24} {shown}")
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--data-dir", type=Path, default=Path("feature_repo/data"))
    parser.add_argument("--repo", type=Path, default=Path("feature_repo"))
    parser.add_argument(
        "--online-store",
        choices=STORE_KINDS,
        default=os.environ.get("PERSONALIZATION_ONLINE_STORE", "sqlite"),
    )


def run(args: argparse.Namespace) -> int:
    logging.getLogger("feast").setLevel(logging.WARNING)
    try:
        version_dir = current_version_dir(args.models_dir)
        result = evaluate_version(version_dir, args.data_dir, args.repo, args.online_store)
    except ManifestError as exc:
        print(f"cannot evaluate: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result) if args.json else render(result))
    return 0
