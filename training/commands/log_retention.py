"""``python -m training log-retention --days N``: delete decision and outcome logs older
than N days — whole ``date=YYYY-MM-DD`` partitions under ``--log-dir``, and (with
``--redis``) the stream entries before the first kept day (``XTRIM MINID``). Prints what
it deleted. See :mod:`training.feedback.retention`.

Exit status: 0 done; 1 Redis unreachable; 2 bad arguments (no log folder, N < 0).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from modelio.redis_address import redacted
from training.commands.feedback import parse_now
from training.feedback.retention import cutoff_day, delete_old, trim_streams
from training.feedback.streams import DEFAULT_PREFIX, connect


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, required=True, help="days of logs to keep")
    parser.add_argument("--log-dir", type=Path, default=Path("logs"))
    parser.add_argument(
        "--redis", default=None, help="host:port[,...][,password=...]: also trim the streams"
    )
    parser.add_argument("--stream-prefix", default=DEFAULT_PREFIX)
    parser.add_argument("--now", default=None, help="ISO 8601 'now' (default: the clock)")
    parser.add_argument("--dry-run", action="store_true", help="list, delete nothing")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    import redis

    if args.days < 0:
        print("log-retention: --days must be 0 or more", file=sys.stderr)
        return 2
    if not args.log_dir.is_dir():
        print(f"log-retention: no log folder {args.log_dir} (--log-dir)", file=sys.stderr)
        return 2
    try:
        now = parse_now(args.now)
    except ValueError:
        print(f"log-retention: --now {args.now!r} is not an ISO 8601 time", file=sys.stderr)
        return 2
    deleted = delete_old(args.log_dir, args.days, now, args.dry_run)
    report: dict[str, Any] = {
        "first_kept_day": cutoff_day(args.days, now).isoformat(),
        "dry_run": args.dry_run,
        "partitions": [{"path": str(p.path), "files": p.files, "bytes": p.bytes} for p in deleted],
        "streams": {},
    }
    if args.redis and not args.dry_run:
        try:
            report["streams"] = trim_streams(
                connect(args.redis), args.stream_prefix, args.days, now
            )
        except (redis.RedisError, ValueError) as exc:
            where = redacted(args.redis)
            print(f"log-retention: cannot trim streams at {where}: {exc}", file=sys.stderr)
            print(json.dumps(report) if args.json else render(report))
            return 1
    print(json.dumps(report) if args.json else render(report))
    return 0


def render(report: dict[str, Any]) -> str:
    verb = "would delete" if report["dry_run"] else "deleted"
    lines = [f"keeping logs from {report['first_kept_day']} on"]
    for p in report["partitions"]:
        lines.append(f"  {verb} {p['path']} ({p['files']} files, {p['bytes']:,} bytes)")
    if not report["partitions"]:
        lines.append("  no partition is old enough")
    for stream, n in report["streams"].items():
        lines.append(f"  trimmed {n:,} entries from {stream}")
    return "\n".join(lines)
