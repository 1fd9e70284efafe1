"""``python -m training replay``: the simulator plays the world against a running server.

Draws simulated turns from the population in ``--data-dir``, sends them with DecideBatch
to ``--target`` (or to a ``python -m server`` it starts itself), draws each outcome from
the ground truth for the action the server chose, sends it back (RecordOutcomeBatch) and
retrains + reloads between rounds. See docs/learning-loop.md.

With ``--experiment`` (and ``--shadow``) the server serves an A/B split instead and the
rounds play without retraining; ``--effect`` injects a known arm effect and ``--drift`` a
known drift (docs/experiments.md, "A worked experiment through the replay").
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.commands import positive

if TYPE_CHECKING:  # the replay stack is imported only when the command runs
    import numpy as np

    from training.replay.decide_rpc import Decided
    from training.replay.population import Population
    from training.replay.world import Outcomes, Turns, World


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
    parser.add_argument("--experiment", default=None, metavar="ARM=VERSION[:WEIGHT],...",
                        help="serve these arms (models/experiment.json + LoadExperiment); "
                        "no retraining between rounds")  # fmt: skip
    parser.add_argument("--shadow", action="append", default=[], metavar="VERSION",
                        help="shadow version of the experiment (repeatable)")  # fmt: skip
    parser.add_argument("--salt", default="replay", help="the experiment's assignment salt")
    parser.add_argument("--effect", default=None, metavar="ARM=DELTA,...",
                        help="add DELTA to the arm's turns' true success probability")  # fmt: skip
    parser.add_argument("--drift", default=None, metavar="at=TURN,KEY=VALUE,...",
                        help="drift from turn TURN of the first round: sentiment=SHIFT, "
                        "archetype<K>=WEIGHT, <raw feature>=SCALE (written into the "
                        "--repo online store, restored at the end)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Play the rounds; progress on stderr, the rounds (JSON with --json) on stdout."""
    import grpc

    from training.progress import Progress
    from training.replay.drift import Drift, parse_drift
    from training.replay.driver import Replay, RoundSteps
    from training.replay.experiment import (
        arm_metrics,
        load_experiment,
        parse_effects,
        parse_experiment,
        shadow_metrics,
    )
    from training.replay.loop import (
        FixedVersions,
        ServerProcess,
        SubprocessSteps,
        train_bootstrap,
        wait_serving,
    )
    from training.replay.population import load_population

    try:
        experiment = (
            parse_experiment(args.experiment, args.shadow, args.salt) if args.experiment else None
        )
        effects = parse_effects(args.effect)
        if args.drift is not None:
            Drift(after_s=0, **parse_drift(args.drift)[1])  # checks the feature names
    except ValueError as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    if (args.shadow or effects) and experiment is None:
        print("replay: --shadow and --effect need --experiment", file=sys.stderr)
        return 2
    progress = Progress("replay", 2 * args.rounds + (args.bootstrap_sample is not None))
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
            population = load_population(args.data_dir)
            world = make_world(population, args.seed, args.turns, args.drift)
            wait_serving(channel)
        store = None
        if world.drift is not None and world.drift.feature_scale:
            from training.replay.store_drift import StoreDrift

            store = StoreDrift(args.repo, args.online_store, args.data_dir, population,
                               world.drift.feature_scale)  # fmt: skip
            stack.callback(store.restore)  # the store as it was, whatever happens
        steps: RoundSteps = SubprocessSteps(channel, args.models_dir, args.log_dir)
        observer = None
        if experiment is not None:
            progress.say(load_experiment(channel, args.models_dir, experiment))
            steps, shadows, log_dir = FixedVersions(), experiment.shadow, args.log_dir

            def observer(
                turns: Turns, decided: Decided, outcomes: Outcomes, boost: np.ndarray | None
            ) -> dict[str, Any]:
                return {
                    "arms": arm_metrics(turns, decided, outcomes, boost),
                    "shadow": shadow_metrics(log_dir, turns, decided, boost, shadows),
                }

        replay = Replay(
            channel,
            world,
            steps,
            turns=args.turns,
            batch_size=args.batch_size,
            fresh_turns=args.fresh_turns,
            seed=args.seed,
            effects=effects,
            observer=observer,
            store=store,
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


def make_world(population: Population, seed: int, turns: int, drift: str | None) -> World:
    """The replay world, with ``--drift`` starting at the time of its turn ``at`` of round 0."""
    from training.replay.drift import Drift, parse_drift
    from training.replay.world import World

    if drift is None:
        return World(population, seed=seed)
    at, kwargs = parse_drift(drift)
    times = World(population, seed=seed).turns(turns, 0).event_s
    if at >= len(times):
        raise ValueError(f"--drift at={at}: a round has {len(times)} turns")
    return World(population, seed=seed, drift=Drift(after_s=int(times[at]), **kwargs))
