"""``python -m training replay``: the simulator plays the world against a running server.

Draws simulated turns from the population in ``--data-dir``, sends them with DecideBatch
to ``--target`` (or to a ``python -m server`` it starts itself), draws each outcome from
the ground truth for the action the server chose, sends it back (RecordOutcomeBatch) and
retrains + reloads between rounds. See docs/learning-loop.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack
from pathlib import Path

from training.commands import positive


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the replay options."""
    from training.store_args import add_online_store

    parser.add_argument("--rounds", type=positive, required=True, help="rounds to play")
    parser.add_argument("--turns", type=positive, default=20_000, help="turns per round")
    parser.add_argument("--target", default=None, help="host:port; default: start a server")
    parser.add_argument("--json", action="store_true", help="print the rounds as JSON")
    parser.add_argument("--data-dir", type=Path, default=Path("feature_repo/data"))
    parser.add_argument("--repo", type=Path, default=Path("feature_repo"))
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--log-dir", type=Path, default=Path("logs"), help="the server's logs")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch-size", type=positive, default=500, help="turns per DecideBatch")
    parser.add_argument(
        "--fresh-turns", action="store_true", help="new turns every round (default: the same)"
    )
    parser.add_argument(
        "--bootstrap-sample",
        type=float,
        default=None,
        metavar="FRACTION",
        help="first train a weak version 0 on this share of the history (train --sample)",
    )
    add_online_store(parser, "store the started server reads (env PERSONALIZATION_ONLINE_STORE)")


def run(args: argparse.Namespace) -> int:
    """Play the rounds; progress on stderr, the rounds (JSON with --json) on stdout."""
    import grpc

    from training.progress import Progress
    from training.replay.driver import Replay
    from training.replay.loop import ServerProcess, SubprocessSteps, train_bootstrap, wait_serving
    from training.replay.population import load_population
    from training.replay.world import World

    progress = Progress("replay", args.rounds + 2)
    if args.bootstrap_sample is not None:
        with progress.stage(f"weak version 0 (train --sample {args.bootstrap_sample})"):
            train_bootstrap(
                [
                    "--sample",
                    str(args.bootstrap_sample),
                    "--data-dir",
                    str(args.data_dir),
                    "--repo",
                    str(args.repo),
                    "--models-dir",
                    str(args.models_dir),
                ]
            )
    with ExitStack() as stack:
        target = args.target
        if target is None:
            server = ServerProcess(args.repo, args.models_dir, args.online_store, args.log_dir)
            target = stack.enter_context(server).target
        channel = stack.enter_context(grpc.insecure_channel(target))
        with progress.stage(f"population from {args.data_dir}, server {target} SERVING"):
            world = World(load_population(args.data_dir), seed=args.seed)
            wait_serving(channel)
        steps = SubprocessSteps(channel, args.models_dir, args.log_dir)
        replay = Replay(
            channel,
            world,
            steps,
            turns=args.turns,
            batch_size=args.batch_size,
            fresh_turns=args.fresh_turns,
            seed=args.seed,
        )
        result = replay.run(args.rounds, progress)
    progress.finish()
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        for row in result["rounds"]:
            print(json.dumps(row))
    return 0
