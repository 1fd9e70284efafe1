"""``python -m training drain-log``: move the Redis log streams into parquet log parts.

Reads ``<prefix>:decisions`` and ``<prefix>:outcomes`` with the consumer group
``--group`` (created at the streams' start when missing), writes the rows under
``<log-dir>/<kind>/date=YYYY-MM-DD/`` and acks them only once the part is durable;
malformed entries go to ``<prefix>:<kind>:dead``. Stops when both streams have nothing
new. Safe to re-run after a crash: see :mod:`training.feedback.drain`.

Exit status: 0 done; 1 Redis unreachable or a write failed (re-run: nothing is lost);
2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path

from modelio.redis_address import redacted
from modelio.store import DEFAULT_REDIS
from training.feedback.drain import drain_kind
from training.feedback.streams import DEFAULT_PREFIX, KINDS, connect, stream_name
from training.progress import Progress

REDIS_ENV = "PERSONALIZATION_REDIS"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--redis", default=None, help=f"host:port[,...][,password=...] (default ${REDIS_ENV})"
    )
    parser.add_argument("--stream-prefix", default=DEFAULT_PREFIX)
    parser.add_argument("--log-dir", type=Path, default=Path("logs"))
    parser.add_argument("--group", default="drain", help="consumer group")
    parser.add_argument(
        "--consumer", default=f"{socket.gethostname()}", help="consumer name (keep it stable)"
    )
    parser.add_argument("--batch", type=int, default=1000, help="entries per part")
    parser.add_argument(
        "--claim-idle-s", type=float, default=60.0, help="claim others' entries pending this long"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    import redis

    if args.batch < 1:
        print("drain-log: --batch must be at least 1", file=sys.stderr)
        return 2
    address = args.redis or os.environ.get(REDIS_ENV)
    try:
        client = connect(address)
    except ValueError as exc:
        print(f"drain-log: bad --redis: {exc}", file=sys.stderr)
        return 2
    except redis.RedisError as exc:
        where = redacted(address or DEFAULT_REDIS)
        print(f"drain-log: cannot reach Redis at {where}: {exc}", file=sys.stderr)
        return 1
    progress, report = Progress("drain-log", len(KINDS)), {}
    try:
        for kind in KINDS:
            with progress.stage(f"{stream_name(args.stream_prefix, kind)} → {args.log_dir}/{kind}"):
                stats = drain_kind(
                    client, args.stream_prefix, kind, args.log_dir, args.group, args.consumer,
                    args.batch, args.claim_idle_s,
                )  # fmt: skip
                report[kind] = stats.as_dict()
                progress.say(json.dumps(report[kind]))
    except (redis.RedisError, OSError) as exc:
        print(f"drain-log: failed ({type(exc).__name__}: {exc}); unacked entries stay pending "
              "and are drained by the next run", file=sys.stderr)  # fmt: skip
        return 1
    if args.json:
        print(json.dumps(report))
    else:
        for kind, counts in report.items():
            print(f"{kind:<10} read {counts['read']:>8,}  rows {counts['rows']:>8,}  "
                  f"dead {counts['dead']:>6,}  parts {counts['parts']:>5,}")  # fmt: skip
    return 0
