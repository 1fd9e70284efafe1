"""``python -m training materialize``: validate sources, ``feast apply``, materialize.

``apply`` runs Feast's own CLI (the same command an ML engineer types), so what this
command does is exactly what ``feast -c feature_repo apply`` does; incremental
materialization then runs in process with Feast's progress bars.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from modelio.store import STORE_KINDS, feast_cli_env, open_store

log = logging.getLogger(__name__)


class ApplyError(RuntimeError):
    """``feast apply`` failed; the message holds Feast's own output."""


def feast_executable() -> str:
    """The ``feast`` script of this interpreter's environment (works inside a venv)."""
    candidate = Path(sys.executable).with_name("feast")
    return str(candidate) if candidate.exists() else "feast"


def apply_repo(repo: Path, kind: str = "sqlite", redis: str | None = None) -> str:
    """Run ``feast -c REPO apply`` on the selected store; return Feast's output."""
    cmd = [feast_executable(), "-c", str(repo.resolve()), "apply"]
    env = feast_cli_env(repo, kind, redis)
    env.setdefault("FEAST_USAGE", "False")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ApplyError(f"feast apply failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def materialize(
    repo: Path, kind: str = "sqlite", redis: str | None = None, end: datetime | None = None
) -> None:
    """Incrementally materialize every feature view up to ``end`` (default: now)."""
    store = open_store(repo, kind, redis)
    store.materialize_incremental(end_date=end or datetime.now(UTC))


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", type=Path, default=Path("feature_repo"))
    parser.add_argument(
        "--online-store",
        choices=STORE_KINDS,
        default=os.environ.get("PERSONALIZATION_ONLINE_STORE", "sqlite"),
        help="sqlite (default), redis or redis_cluster; env PERSONALIZATION_ONLINE_STORE",
    )
    parser.add_argument(
        "--redis", default=None, help="host:port[,host:port...]; env PERSONALIZATION_REDIS"
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
