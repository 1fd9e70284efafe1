"""``python -m training feedback``: join logged decisions and outcomes into a bandit dataset.

Reads ``<log-dir>/decisions`` and ``<log-dir>/outcomes`` (the server's embedded sink or
``drain-log``), applies :mod:`training.feedback.join` (rewards per
:mod:`modelio.reward`, each decision under its model version's manifest, else the
policy file) and writes ``<out>/bandit.parquet`` and ``<out>/unmatched_outcomes.parquet``
atomically. Prints the counts, human-readable or as one JSON object (``--json``).

Exit status: 0 done; 2 bad arguments (no log folder, bad ``--now``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from modelio.logrecords import DECISIONS, OUTCOMES, read_log
from training.feedback.dataset import DEFAULT_DATASET, UNMATCHED_NAME, RewardConfigs
from training.feedback.join import join_logs
from training.feedback.parts import write_atomic
from training.progress import Progress

EXIT_USAGE = 2


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-dir", type=Path, default=Path("logs"))
    parser.add_argument("--out", type=Path, default=DEFAULT_DATASET.parent, help="output folder")
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--now", default=None, help="ISO 8601 time the wait is measured to")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def parse_now(text: str | None) -> datetime:
    """``--now`` as an aware UTC datetime (naive means UTC); now when not given."""
    if text is None:
        return datetime.now(UTC)
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def mean_ci(values: np.ndarray) -> tuple[float, list[float]]:
    """Mean and normal-approximation 95 % interval (NaN when empty)."""
    if not len(values):
        return math.nan, [math.nan, math.nan]
    mean = float(np.mean(values))
    half = 1.96 * float(np.std(values, ddof=1)) / math.sqrt(len(values)) if len(values) > 1 else 0
    return mean, [mean - half, mean + half]


def run(args: argparse.Namespace) -> int:
    if not args.log_dir.is_dir():
        print(f"feedback: no log folder {args.log_dir} (--log-dir)", file=sys.stderr)
        return EXIT_USAGE
    try:
        now = parse_now(args.now)
    except ValueError:
        print(f"feedback: --now {args.now!r} is not an ISO 8601 time", file=sys.stderr)
        return EXIT_USAGE
    progress = Progress("feedback", 3)
    with progress.stage(f"read logs under {args.log_dir}"):
        decisions, outcomes = read_log(args.log_dir, DECISIONS), read_log(args.log_dir, OUTCOMES)
        progress.say(f"{decisions.num_rows:,} decision rows, {outcomes.num_rows:,} outcome rows")
    configs = RewardConfigs(args.models_dir)
    with progress.stage("join by decision_id (modelio.reward)"):
        result = join_logs(decisions, outcomes, configs, now)
    with progress.stage(f"write {args.out}"):
        dataset = write_atomic(result.dataset, args.out / DEFAULT_DATASET.name)
        unmatched = write_atomic(result.unmatched, args.out / UNMATCHED_NAME)
    mean, ci = mean_ci(result.dataset.column("reward").to_numpy())
    report: dict[str, Any] = {
        **result.counts.as_dict(),
        "rows": result.dataset.num_rows,
        "mean_reward": mean,
        "mean_reward_ci": ci,
        "now": now.isoformat(),
        "reward_config": configs.sources,
        "dataset": str(dataset),
        "unmatched_outcomes": str(unmatched),
    }
    print(json.dumps(report) if args.json else render(report))
    return 0


def render(report: dict[str, Any]) -> str:
    """The counts as an aligned table."""
    keys = ("decisions", "outcomes", "matched", "unmatched", "duplicates", "late")
    lines = [f"  {k:<12} {report[k]:>10,}" for k in (*keys, "defaulted", "pending")]
    lines.append(f"  {'rows':<12} {report['rows']:>10,}  → {report['dataset']}")
    lo, hi = report["mean_reward_ci"]
    mean = report["mean_reward"]
    lines.append(f"  {'mean reward':<12} {mean:>10.4f}  (95% CI {lo:.4f} to {hi:.4f})")
    for version, source in report["reward_config"].items():
        lines.append(f"  reward of {version or '(no version)'}: {source}")
    return "\n".join(["feedback join", *lines])
