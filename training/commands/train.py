"""``python -m training train``: train, check and export a new model version.

The stages are :func:`training.pipeline.train_version`'s; see docs/training.md.

``--from-log`` fits the next-best-action reward model on the logged-bandit dataset
(``python -m training feedback``; ``--dataset``) instead of the simulated decisions, the
same propensity-weighted way; segments and escalation risk are trained from the source
history as usual. It fails (exit 1) when the log is too small or misses an action.

The escalation and reward models take the conversation state's inputs
(``modelio.conversation``, computed point in time from the conversation's earlier turns);
``--no-conversation-features`` trains them without (the layout of earlier versions).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from training.export.graphs import load_policy
from training.export.parity import ParityError
from training.feedback.dataset import DEFAULT_DATASET, DatasetError, read_dataset
from training.feedback.logged import LoggedSets, check_trainable, logged_sets
from training.pipeline import DEFAULT_SEED, train_version
from training.store_args import add_online_store


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=Path("feature_repo/data"))
    parser.add_argument("--repo", type=Path, default=Path("feature_repo"))
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--version", default=None, help="default personalization_v1-<UTC time>")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--sample",
        type=float,
        default=None,
        metavar="FRACTION",
        help="train on this random share of the tickets and decisions (a weak version)",
    )
    add_online_store(parser, "store config used for feast apply (env PERSONALIZATION_ONLINE_STORE)")
    parser.add_argument(
        "--from-log",
        action="store_true",
        help="fit the next-best-action reward model on the logged-bandit dataset",
    )
    parser.add_argument(
        "--dataset", type=Path, default=DEFAULT_DATASET, help="with --from-log (feedback's output)"
    )
    parser.add_argument(
        "--no-conversation-features",
        dest="conversation",
        action="store_false",
        help="train the escalation and reward models without the conversation state's inputs"
        " (the layout of versions before them)",
    )


def read_logged(path: Path) -> LoggedSets:
    """The logged dataset split for training; DatasetError if unfit."""
    dataset = read_dataset(path)
    check_trainable(dataset)
    return logged_sets(dataset, load_policy())


def run(args: argparse.Namespace) -> int:
    logged = None
    if getattr(args, "from_log", False):  # callers may build the Namespace themselves
        try:
            logged = read_logged(args.dataset)
        except DatasetError as exc:
            print(f"train --from-log: {exc}", file=sys.stderr)
            return 1
    if not (args.data_dir / "tickets.parquet").is_file():
        print(f"{args.data_dir}: no tickets.parquet (python -m training simulate)", file=sys.stderr)
        return 1
    logging.getLogger("feast").setLevel(logging.WARNING)
    args.models_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = train_version(
            args.data_dir,
            args.repo,
            args.models_dir,
            args.version,
            args.seed,
            args.online_store,
            sample=args.sample,
            logged=logged,
            conversation=getattr(args, "conversation", True),
        )
    except (ParityError, FileExistsError) as exc:
        print(f"train failed: {exc}", file=sys.stderr)
        return 1
    print(result.version_dir)
    return 0
