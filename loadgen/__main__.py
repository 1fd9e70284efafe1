"""``python -m loadgen --target HOST:PORT``: load-test a personalization server.

Examples::

    # open loop, 300 requests/s with Poisson arrivals, 2 client processes
    python -m loadgen --target localhost:50051 --rate 300 --processes 2 \\
        --customers-from feature_repo/data/customer_profile.parquet
    # closed loop, 8 concurrent callers, DecideBatch of 100, JSON to a file
    python -m loadgen --target localhost:50051 --mode closed --concurrency 8 \\
        --rpc batch --batch-size 100 --known-prefix C --known-count 20000 --json out.json
    # two TLS servers with an API key, rate stepping 100 -> 500 rps every 10 s,
    # a ghz-format report and a time-series plot
    PERSONALIZATION_CLIENT_API_KEY=pk_... python -m loadgen \\
        --target pod-a:50051 --target pod-b:50051 --ca ca.pem \\
        --profile step:100:500:100:10s --duration 50 --ghz-json ghz.json --plot series.png
"""

from __future__ import annotations

import sys

import grpc

from loadgen.cli import config_from_args, parser
from loadgen.ghz import ghz_report
from loadgen.report import describe, write_json
from loadgen.runner import merge_results, run_parts, target_stats
from loadgen.series import plot_series
from loadgen.stats import merge_all


def main(argv: list[str] | None = None) -> int:
    """Run one load test and print its report; exit 1 if any call failed."""
    args = parser(__doc__).parse_args(argv)
    try:
        cfg = config_from_args(args)
    except (ValueError, OSError) as exc:
        print(f"loadgen: {exc}", file=sys.stderr)
        return 2
    if not cfg.workload.known_ids:
        print("loadgen: no known customers given; every id is unknown", file=sys.stderr)
    try:
        parts = run_parts(cfg)
    except (TimeoutError, RuntimeError, grpc.FutureTimeoutError) as exc:
        where = ", ".join(cfg.all_targets)
        print(f"loadgen: {where}: {type(exc).__name__} {exc}".rstrip(), file=sys.stderr)
        return 2
    result = merge_results(cfg, parts)
    if args.ghz_json:
        stats = merge_all(target_stats(cfg, parts))
        write_json(ghz_report(result, stats, result["started_at"]), args.ghz_json)
    if args.plot:
        plot_series(result, args.plot)
    del result["details"]  # in the ghz report only: one entry per call
    if args.json:
        write_json(result, args.json)
    if args.json != "-":
        print(describe(result))
    return 1 if result["error_count"] else 0


if __name__ == "__main__":
    sys.exit(main())
