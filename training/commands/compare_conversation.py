"""``python -m training compare-conversation``: models with and without the conversation
features, trained on the same data and scored on the simulator's truth.

What is compared and how: :mod:`training.conversation_compare`. Writes ``--out`` (JSON)
and the PNG next to it; prints the JSON. Needs simulated data (the truth folder).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from modelio.store import open_store
from training.conversation_compare import compare_frames, write_report
from training.data.frames import load_frames, split_by_time
from training.data.inputs import training_defaults
from training.export.graphs import load_policy
from training.pipeline import DEFAULT_SEED
from training.store_args import add_online_store

DEFAULT_OUT = Path("docs/conversation-features.json")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=Path("feature_repo/data"))
    parser.add_argument("--repo", type=Path, default=Path("feature_repo"))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON; the PNG goes next")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    add_online_store(parser, "store config used for feast apply (env PERSONALIZATION_ONLINE_STORE)")


def _say(message: str) -> None:
    print(f"compare-conversation: {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from training.feast_ops import apply_repo

    if not (args.data_dir / "truth" / "decisions.parquet").is_file():
        print(f"{args.data_dir}: no simulator truth (python -m training simulate)", file=sys.stderr)
        return 1
    logging.getLogger("feast").setLevel(logging.WARNING)
    _say("feast apply + point-in-time features")
    apply_repo(args.repo, args.online_store)
    frames = load_frames(args.data_dir, open_store(args.repo, args.online_store))
    defaults = training_defaults(split_by_time(frames.tickets, frames.window)[0])
    try:
        result = compare_frames(
            frames, defaults, load_policy(), args.seed, args.resamples, progress=_say
        )
    except ValueError as exc:
        print(f"compare-conversation: {exc}", file=sys.stderr)
        return 1
    out, png = write_report(result, args.out)
    _say(f"wrote {out} and {png}")
    print(json.dumps(result, sort_keys=True))
    return 0
