"""``python -m training COMMAND``: the ML engineer's entry point.

Each command lives in its own module exposing ``configure(parser)`` and ``run(args) -> int``;
modules are imported only when their command runs, so ``simulate`` never pays for LightGBM.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("training.commands.simulate", "generate support data with known ground truth"),
    "validate": ("training.commands.validate", "check source parquet files against their schemas"),
    "materialize": ("training.commands.materialize", "feast apply + incremental materialization"),
    "dataset": ("training.commands.dataset", "build point-in-time training sets through Feast"),
    "train": ("training.commands.train", "train, check and export a new model version"),
    "evaluate": ("training.commands.evaluate", "evaluate the current model version"),
    "compare-conversation": (
        "training.commands.compare_conversation",
        "models with vs without conversation features, on the simulator's truth",
    ),
    "feedback": ("training.commands.feedback", "join logged decisions and outcomes into rewards"),
    "conversations": (
        "training.commands.conversations",
        "conversation-state history of the logs into the offline store",
    ),
    "evaluate-policy": (
        "training.commands.evaluate_policy",
        "off-policy value of a model version on the logged decisions",
    ),
    "experiment-report": (
        "training.commands.experiment_report",
        "per-arm results, lift, SRM and always-valid inference of an experiment",
    ),
    "drain-log": ("training.commands.drain_log", "drain the Redis log streams into parquet"),
    "log-retention": (
        "training.commands.log_retention",
        "delete decision/outcome logs past N days",
    ),
    "forget": ("training.commands.forget", "erase customers from every store and log"),
    "replay": ("training.commands.replay", "play simulated turns against a server, learn, reload"),
    "monitor": (
        "training.commands.monitor",
        "drift (PSI) and outcome control charts over the logs",
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    argv = sys.argv[1:] if argv is None else argv
    wanted = argv[0] if argv and argv[0] in COMMANDS else None
    for name, (module, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text)
        if name == wanted:
            importlib.import_module(module).configure(cmd)
    args, extra = parser.parse_known_args(argv)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Feast logs every registry refresh at INFO; that drowns the progress lines.
    logging.getLogger("feast").setLevel(logging.WARNING)
    return int(importlib.import_module(COMMANDS[args.command][0]).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
