"""``python -m loadgen --target HOST:PORT``: load-test a personalization server.

Examples::

    # open loop, 300 requests/s with Poisson arrivals, 2 client processes
    python -m loadgen --target localhost:50051 --rate 300 --processes 2 \\
        --customers-from feature_repo/data/customer_profile.parquet
    # closed loop, 8 concurrent callers, DecideBatch of 100, JSON to a file
    python -m loadgen --target localhost:50051 --mode closed --concurrency 8 \\
        --rpc batch --batch-size 100 --known-prefix C --known-count 20000 --json out.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grpc

from loadgen.report import describe, write_json
from loadgen.runner import LoadConfig, run_load
from loadgen.workload import RPC_METHODS, Workload, load_known_ids

MAX_DURATION_S = 3600.0


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(
        prog="python -m loadgen",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--target", required=True, help="server host:port")
    p.add_argument("--mode", choices=("open", "closed"), default="open")
    p.add_argument("--rate", type=float, default=100.0, help="open loop: total requests/s")
    p.add_argument("--arrival", choices=("poisson", "constant"), default="poisson")
    p.add_argument(
        "--sender",
        choices=("thread", "aio"),
        default="thread",
        help="open loop: thread (precise timers) or aio (cheaper at high rates)",
    )
    p.add_argument("--concurrency", type=int, default=8, help="closed loop: total callers")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    p.add_argument("--processes", type=int, default=1, help="client processes")
    p.add_argument(
        "--rpc",
        choices=tuple(RPC_METHODS),
        default="decide",
        help="decide, batch (DecideBatch) or feast (Feast GetOnlineFeatures)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="items per call: default 100 for batch, 1 for feast",
    )
    p.add_argument(
        "--customers-from",
        type=Path,
        default=None,
        help="parquet with a customer_id column (known customers)",
    )
    p.add_argument("--known-prefix", default="C", help="known ids: PREFIX + zero-padded index")
    p.add_argument("--known-count", type=int, default=0, help="known ids 0..N-1")
    p.add_argument("--known-width", type=int, default=7, help="digits of the index")
    p.add_argument("--unknown-share", type=float, default=0.1, help="share of unknown ids")
    p.add_argument("--feature-service", default="personalization_v1", help="for --rpc feast")
    p.add_argument("--pool-size", type=int, default=4096, help="distinct requests per process")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=5.0, help="deadline per call, seconds")
    p.add_argument(
        "--max-outstanding",
        type=int,
        default=5000,
        help="open loop: calls in flight before new ones count as CLIENT_BACKLOG",
    )
    p.add_argument("--json", metavar="FILE", default=None, help="write JSON here ('-': stdout)")
    return p


def config_from_args(args: argparse.Namespace) -> LoadConfig:
    """Validate parsed flags and turn them into a :class:`LoadConfig`."""
    if not 0 < args.duration <= MAX_DURATION_S or not 0 <= args.warmup <= MAX_DURATION_S:
        raise ValueError(f"--duration must be in (0, {MAX_DURATION_S:g}] s, --warmup >= 0")
    if args.processes < 1 or args.concurrency < 1 or args.rate <= 0:
        raise ValueError("--processes, --concurrency and --rate must be positive")
    if not 0.0 <= args.unknown_share <= 1.0:
        raise ValueError("--unknown-share must be in [0, 1]")
    batch = args.batch_size or (100 if args.rpc == "batch" else 1)
    ids = load_known_ids(args.customers_from, args.known_prefix, args.known_count, args.known_width)
    work = Workload(
        rpc=args.rpc,
        known_ids=tuple(ids),
        unknown_share=args.unknown_share,
        batch_size=batch,
        pool_size=args.pool_size,
        seed=args.seed,
        feature_service=args.feature_service,
    )
    return LoadConfig(
        target=args.target,
        workload=work,
        mode=args.mode,
        rate=args.rate,
        arrival=args.arrival,
        sender=args.sender,
        concurrency=args.concurrency,
        duration_s=args.duration,
        warmup_s=args.warmup,
        processes=args.processes,
        timeout_s=args.timeout,
        max_outstanding=args.max_outstanding,
    )


def main(argv: list[str] | None = None) -> int:
    """Run one load test and print its report; exit 1 if any call failed."""
    args = parser().parse_args(argv)
    try:
        cfg = config_from_args(args)
    except (ValueError, OSError) as exc:
        print(f"loadgen: {exc}", file=sys.stderr)
        return 2
    if not cfg.workload.known_ids:
        print("loadgen: no known customers given; every id is unknown", file=sys.stderr)
    try:
        result = run_load(cfg)
    except (TimeoutError, RuntimeError, grpc.FutureTimeoutError) as exc:
        print(f"loadgen: {cfg.target}: {type(exc).__name__} {exc}".rstrip(), file=sys.stderr)
        return 2
    if args.json:
        write_json(result, args.json)
    if args.json != "-":
        print(describe(result))
    return 1 if result["error_count"] else 0


if __name__ == "__main__":
    sys.exit(main())
