"""``python -m training evaluate``: score the shipped ONNX models of ``models/current``.

How the holdout is rebuilt: see :func:`training.evaluation.evaluate_version`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from modelio.manifest import ManifestError, current_version_dir
from training.evaluation import evaluate_version
from training.store_args import add_online_store


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
    add_online_store(parser)


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
