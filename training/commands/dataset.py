"""``python -m training dataset``: write a point-in-time training set (training.data.dataset):
each event's features as the online store served them then (stamped strictly before it)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from modelio.store import open_store
from modelio.vocab import FEATURE_SERVICE
from training.data.dataset import EVENT_TABLES, features_before, load_events


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", type=Path, default=Path("feature_repo"))
    parser.add_argument("--kind", choices=sorted(EVENT_TABLES), default="tickets")
    parser.add_argument("--events", type=Path, default=None, help="your own events parquet")
    parser.add_argument("--out", type=Path, default=Path("artifacts/training_set.parquet"))
    parser.add_argument("--feature-service", default=FEATURE_SERVICE)


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    events = (
        pd.read_parquet(args.events) if args.events else load_events(args.repo / "data", args.kind)
    )
    print(f"[dataset] {len(events):,} events; joining features point in time…", file=sys.stderr)
    frame = features_before(open_store(args.repo), events, args.feature_service)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(args.out, index=False)
    took = time.perf_counter() - started
    print(f"[dataset] wrote {args.out} ({len(frame):,} rows) in {took:.1f}s", file=sys.stderr)
    return 0
