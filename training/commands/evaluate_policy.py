"""``python -m training evaluate-policy --candidate VERSION``: value of a version on the log.

Scores every logged decision of the bandit dataset (``python -m training feedback``) with
the candidate's ONNX models and estimates the candidate policy's value with IPS, SNIPS
and DR, each with a bootstrap 95 % interval, plus the effective sample size, beside the
logging policy's observed mean reward. A candidate trained ``--from-log`` is scored on
the rows logged after its training data; for the rows it learnt from, its manifest's
cross-fitted estimate stands. See :mod:`training.feedback.offpolicy`.

Exit status: 0 done; 1 the candidate cannot be loaded or the dataset is unusable;
2 bad arguments (no such dataset or version folder).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from modelio.manifest import ManifestError
from training.feedback.dataset import DEFAULT_DATASET, DatasetError, read_dataset
from training.feedback.offpolicy import RESAMPLES, SEED, evaluate_candidate
from training.progress import Progress

EXIT_FAILED, EXIT_USAGE = 1, 2


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--candidate", required=True, metavar="VERSION")
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--resamples", type=int, default=RESAMPLES, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def render(report: dict[str, Any]) -> str:
    """Estimates with their intervals, one per line."""
    lo, hi = report["logging_ci"]
    lines = [
        f"candidate {report['candidate']} on {report['n']:,} logged decisions ({report['basis']})",
        f"  {'logging (observed)':<20} {report['logging_value']:.4f}  [{lo:.4f}, {hi:.4f}]",
    ]
    for key in ("ips", "snips", "dr"):
        lo, hi = report[key]["ci"]
        lines.append(f"  {key.upper():<20} {report[key]['estimate']:.4f}  [{lo:.4f}, {hi:.4f}]")
    lines.append(f"  {'effective sample size':<20} {report['ess']:.1f} (max weight "
                 f"{report['max_weight']:.1f}; 95% bootstrap intervals, "
                 f"{report['resamples']} resamples)")  # fmt: skip
    trained = report.get("training_estimate")
    if report["basis"] == "cross-fitted at training":
        lines.append(f"  cross-fitted when the version was trained, on the log through "
                     f"{report['logged_through']}; {report['unseen_rows']:,} rows logged "
                     "since (too few to score it on)")  # fmt: skip
    elif trained is not None:
        lo, hi = trained["dr"]["ci"]
        lines.append(f"  {'DR at training':<20} {trained['dr']['estimate']:.4f}  [{lo:.4f}, "
                     f"{hi:.4f}] (cross-fitted over {trained['n']:,} decisions through "
                     f"{trained['logged_through']})")  # fmt: skip
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    version_dir = args.models_dir / args.candidate
    if "/" in args.candidate or not version_dir.is_dir():
        print(f"evaluate-policy: no model version {version_dir}", file=sys.stderr)
        return EXIT_USAGE
    if not args.dataset.is_file():
        print(f"evaluate-policy: no dataset {args.dataset} (python -m training feedback)",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    if args.resamples < 1:
        print("evaluate-policy: --resamples must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    progress = Progress("evaluate-policy", 2)
    try:
        with progress.stage(f"read {args.dataset}"):
            dataset = read_dataset(args.dataset)
            progress.say(f"{dataset.num_rows:,} logged decisions")
        with progress.stage(f"score with {args.candidate} (ONNX) + IPS/SNIPS/DR + bootstrap"):
            report = evaluate_candidate(version_dir, dataset, args.resamples, args.seed)
    except (ManifestError, DatasetError) as exc:
        print(f"evaluate-policy: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(report) if args.json else render(report))
    return 0
