"""``python -m training materialize``: validate sources, ``feast apply``, materialize.

``apply`` runs Feast's own CLI (the same command an ML engineer types), so what this
command does is exactly what ``feast -c feature_repo apply`` does; incremental
materialization then runs in process with Feast's progress bars.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from training.feast_ops import apply_repo, materialize
from training.store_args import add_online_store


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", type=Path, default=Path("feature_repo"))
    add_online_store(
        parser, "sqlite (default), redis or redis_cluster; env PERSONALIZATION_ONLINE_STORE"
    )
    parser.add_argument(
        "--redis",
        default=None,
        help="host:port[,host:port...][,password=...]; env PERSONALIZATION_REDIS",
    )
    parser.add_argument("--end", default=None, help="materialize up to this ISO time (UTC)")
    parser.add_argument("--skip-apply", action="store_true", help="only materialize")


def run(args: argparse.Namespace) -> int:
    from training.data.findings import DataValidationError
    from training.data.validate import check_sources

    repo: Path = args.repo
    try:
        check_sources(repo / "data")
    except DataValidationError as exc:
        print(f"refusing to load invalid data:\n{exc}", file=sys.stderr)
        return 1
    end = datetime.fromisoformat(args.end).astimezone(UTC) if args.end else None
    started = time.perf_counter()
    if not args.skip_apply:
        print(f"[materialize] feast apply ({args.online_store})", file=sys.stderr)
        print(apply_repo(repo, args.online_store, args.redis), file=sys.stderr)
    print(f"[materialize] incremental materialization into {args.online_store}", file=sys.stderr)
    materialize(repo, args.online_store, args.redis, end)
    print(f"[materialize] done in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return 0
