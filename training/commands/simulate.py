"""``python -m training simulate``: write simulated support data with known ground truth."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from training.commands import positive


def _date(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from exc


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the simulate options."""
    parser.add_argument("--customers", type=positive, default=20_000, help="default: %(default)s")
    parser.add_argument("--seed", type=int, default=7, help="default: %(default)s")
    parser.add_argument(
        "--end-date",
        type=_date,
        default=None,
        help="last day (exclusive, UTC midnight) of the window; default: today",
    )
    parser.add_argument(
        "--days", type=positive, default=180, help="window length (default: %(default)s)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("feature_repo/data"), help="default: %(default)s"
    )
    parser.add_argument(
        "--chunk-size",
        type=positive,
        default=50_000,
        help="customers per chunk, rounded up to 1000 (bounds memory; data do not depend on it)",
    )
    parser.add_argument("--no-validate", action="store_true", help="skip validating the output")


def run(args: argparse.Namespace) -> int:
    """Simulate, validate, print the truth summary as JSON on stdout."""
    from training.data.findings import DataValidationError
    from training.sim.config import SimConfig
    from training.sim.run import simulate

    cfg = SimConfig(
        customers=args.customers,
        seed=args.seed,
        end=args.end_date,
        days=args.days,
        out=args.out,
        chunk_size=args.chunk_size,
        validate=not args.no_validate,
    )
    try:
        summary = simulate(cfg)
    except DataValidationError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    json.dump(summary, sys.stdout, indent=2, sort_keys=True)
    print()
    return 0
