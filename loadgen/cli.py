"""The command line of ``python -m loadgen``: flags, and their checks into a LoadConfig."""

from __future__ import annotations

import argparse
from pathlib import Path

from loadgen.channels import API_KEY_ENV, Security, read_api_key
from loadgen.profile import parse_profile
from loadgen.recorder import DETAILS_MAX
from loadgen.runner import LoadConfig
from loadgen.workload import RPC_METHODS, Workload, load_known_ids

MAX_DURATION_S = 3600.0


def parser(description: str | None = None) -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(
        prog="python -m loadgen",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--target",
        action="append",
        required=True,
        help="server host:port or gRPC target URI (dns:///name:port); repeat it for "
        "several servers: calls go round-robin over them, one channel each",
    )
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
    p.add_argument(
        "--conversations",
        type=int,
        default=0,
        help="Decides as turns of conversations (conversation_id), N in progress per caller",
    )
    p.add_argument(
        "--conversation-turns",
        type=int,
        default=0,
        help="turns of every conversation (default: drawn, 1 + Exp(0.45), mean 2.8)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=5.0, help="deadline per call, seconds")
    p.add_argument(
        "--max-outstanding",
        type=int,
        default=5000,
        help="open loop: calls in flight before new ones count as CLIENT_BACKLOG",
    )
    p.add_argument(
        "--profile",
        default=None,
        help="open loop: rate over time instead of --rate: const:RATE, "
        "step:START:END:STEP:EVERY (e.g. step:100:500:100:10s) or ramp:START:END[:OVER]",
    )
    p.add_argument(
        "--interval",
        type=float,
        default=None,
        help="width of the time series' intervals, s (1, or --duration if shorter)",
    )
    _security(p)
    out = p.add_argument_group("output")
    out.add_argument("--json", metavar="FILE", default=None, help="write JSON here ('-': stdout)")
    out.add_argument(
        "--ghz-json", metavar="FILE", default=None, help="write a ghz-format JSON report here"
    )
    out.add_argument(
        "--details",
        type=int,
        default=DETAILS_MAX,
        help="with --ghz-json: calls listed one by one, per client process",
    )
    out.add_argument("--plot", metavar="PNG", type=Path, default=None, help="time-series plot")
    return p


def _security(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("security (as python -m server.client)")
    g.add_argument("--tls", action="store_true", help="TLS with the system's root CAs")
    g.add_argument("--ca", type=Path, help="CA that signed the server certificates (implies TLS)")
    g.add_argument("--cert", type=Path, help="client certificate, for mutual TLS")
    g.add_argument("--key", type=Path, help="client private key, for mutual TLS")
    g.add_argument("--server-name", help="name expected in the server certificate")
    g.add_argument(
        "--api-key-file", type=Path, help=f"file holding the API key (default ${API_KEY_ENV})"
    )
    g.add_argument(
        "--lb-policy",
        default=None,
        help="gRPC load-balancing policy of each channel, e.g. round_robin over a DNS name",
    )


def config_from_args(args: argparse.Namespace) -> LoadConfig:
    """Validate parsed flags and turn them into a :class:`LoadConfig`."""
    if not 0 < args.duration <= MAX_DURATION_S or not 0 <= args.warmup <= MAX_DURATION_S:
        raise ValueError(f"--duration must be in (0, {MAX_DURATION_S:g}] s, --warmup >= 0")
    if args.processes < 1 or args.concurrency < 1 or args.rate <= 0:
        raise ValueError("--processes, --concurrency and --rate must be positive")
    if not 0.0 <= args.unknown_share <= 1.0:
        raise ValueError("--unknown-share must be in [0, 1]")
    interval = args.interval if args.interval is not None else min(1.0, args.duration)
    if not 0 < interval <= args.duration or args.details < 0:
        raise ValueError("--interval must be in (0, --duration], --details >= 0")
    if args.conversations < 0 or args.conversation_turns < 0:
        raise ValueError("--conversations and --conversation-turns must be >= 0")
    if args.conversations and args.rpc != "decide":
        raise ValueError("--conversations applies to --rpc decide (a bot sends turns one by one)")
    if args.profile and args.mode != "open":
        raise ValueError("--profile applies to the open loop (--mode open)")
    profile = parse_profile(args.profile, args.duration) if args.profile else None
    security = Security(
        tls=args.tls,
        ca=args.ca,
        cert=args.cert,
        key=args.key,
        server_name=args.server_name,
        api_key=read_api_key(args.api_key_file),
        lb_policy=args.lb_policy,
    )
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
        conversations=args.conversations,
        conversation_turns=args.conversation_turns,
    )
    return LoadConfig(
        target=args.target[0],
        targets=tuple(args.target),
        security=security,
        profile=profile,
        interval_s=interval,
        details_max=args.details if args.ghz_json else 0,
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
