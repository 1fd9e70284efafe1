"""The bench's presets (``--tiny``, ``--quick``) and its flags as a MeasureConfig."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.measure import MeasureConfig
from bench.search import SearchSpec

#: Entries ``--quick`` runs: the floors, Decide with the log on and off, with a
#: shadow and in a conversation, and the batch against Feast's own batch.
QUICK_ENTRIES = (
    "echo",
    "echo_full",
    "transport",
    "decide",
    "decide_nolog",
    "decide_shadow",
    "batch100",
    "echo_full_c1",
    "decide_c1",
    "decide_conv",
    "decide_conv_long",
)
QUICK = {"customers": 3000, "duration": 9.0, "warmup": 1.0, "rounds": 3}
TINY = {
    "customers": 300,
    "duration": 0.6,
    "warmup": 0.3,
    "rounds": 1,
    "search_steps": 2,
    "search_duration": 0.6,
}


def pick(value: Any, name: str, tiny: bool, default: Any, quick: bool = False) -> Any:
    if value is not None:
        return value
    if tiny:
        return TINY[name]
    return QUICK.get(name, default) if quick else default


def measure_config(args: argparse.Namespace, workdir: Path) -> MeasureConfig:
    """Measurement settings from the flags (``--tiny`` changes the defaults)."""
    search = SearchSpec(
        p99_limit_us=round(args.p99_limit_ms * 1000),
        start_rps=args.search_start,
        max_steps=pick(args.search_steps, "search_steps", args.tiny, 10),
    )
    return MeasureConfig(
        duration_s=pick(args.duration, "duration", args.tiny, 10.0, args.quick),
        warmup_s=pick(args.warmup, "warmup", args.tiny, 2.0, args.quick),
        concurrency=args.concurrency,
        processes=args.processes,
        open_rate=args.open_rate,
        search=search,
        search_duration_s=pick(args.search_duration, "search_duration", args.tiny, 4.0),
        search_processes=args.search_processes,
        profile_s=args.profile,
        profile_dir=workdir,
        rounds=max(1, pick(args.rounds, "rounds", args.tiny, 2, args.quick)),
        search_min_calls=0 if args.tiny else 500,
        entries=args.entries if args.entries is not None else quick_entries(args),
        open_loop=args.open_loop and not args.quick,
    )


def quick_entries(args: argparse.Namespace) -> tuple[str, ...]:
    """``--quick``'s entries; every entry otherwise."""
    return QUICK_ENTRIES if args.quick else ()
