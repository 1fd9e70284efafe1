"""``python -m training conversations``: the conversation-state history of logged traffic
into the offline store, for training.

Reads ``<log-dir>/decisions`` and ``<log-dir>/outcomes`` (the server's embedded sink or
``drain-log``), folds every logged conversation with the server's own code
(:mod:`training.feedback.conversations`: one row per turn, the state after it and the
outcomes received before the next turn) and merges the rows into
``<repo>/data/conversation_state.parquet``, the FileSource of ``conversation_state_fv``,
by (conversation_id, event_timestamp) (:func:`training.data.conversation_rows.merge_rows`),
atomically: rerunning on the same logs rewrites the same rows, and rows of other
conversations (the simulator's, older logs') are kept.

Exit status: 0 done; 1 the existing file is not in the view's layout; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from modelio.logrecords import DECISIONS, OUTCOMES, read_log
from training.data.conversation_rows import FILE_NAME, merge_rows, read_rows
from training.feedback.conversations import conversation_history
from training.feedback.parts import write_atomic
from training.progress import Progress

EXIT_LAYOUT = 1
EXIT_USAGE = 2


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-dir", type=Path, default=Path("logs"))
    parser.add_argument(
        "--repo", type=Path, default=Path("feature_repo"), help="rows go to REPO/data/" + FILE_NAME
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    if not args.log_dir.is_dir():
        print(f"conversations: no log folder {args.log_dir} (--log-dir)", file=sys.stderr)
        return EXIT_USAGE
    if not args.repo.is_dir():
        print(f"conversations: no feature repository {args.repo} (--repo)", file=sys.stderr)
        return EXIT_USAGE
    path: Path = args.repo / "data" / FILE_NAME
    progress = Progress("conversations", 3)
    with progress.stage(f"read logs under {args.log_dir}"):
        decisions, outcomes = read_log(args.log_dir, DECISIONS), read_log(args.log_dir, OUTCOMES)
        progress.say(f"{decisions.num_rows:,} decision rows, {outcomes.num_rows:,} outcome rows")
    with progress.stage("fold each conversation (modelio.conversation)"):
        history = conversation_history(decisions, outcomes)
    with progress.stage(f"merge into {path}"):
        try:
            merged = merge_rows(read_rows(path), history.table)
        except ValueError as exc:
            print(f"conversations: {exc}; not written", file=sys.stderr)
            return EXIT_LAYOUT
        write_atomic(merged.table, path)
    report: dict[str, Any] = {
        **history.counts.as_dict(),
        "added": merged.added,
        "replaced": merged.replaced,
        "file_rows": merged.table.num_rows,
        "path": str(path),
    }
    print(json.dumps(report) if args.json else render(report))
    return 0


def render(report: dict[str, Any]) -> str:
    """The counts, then the summary line."""
    keys = ("decisions", "without_conversation", "outcomes_applied", "outcomes_unmatched")
    lines = [f"  {k:<22} {report[k]:>10,}" for k in (*keys, "outcomes_elsewhere", "restarted")]
    lines.append(
        f"conversations: {report['conversations']:,} conversations, {report['rows']:,} rows"
        f" written ({report['added']:,} new, {report['replaced']:,} replaced),"
        f" {report['file_rows']:,} in {report['path']}"
    )
    return "\n".join(["conversation state from the logs", *lines])
