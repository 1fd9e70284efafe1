"""``python -m training validate [--data-dir DIR]``: print the report, exit 1 on violations."""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the validate options."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("feature_repo/data"),
        help="folder with the source parquet files (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    """Validate and print the report; 0 when clean, 1 on violations."""
    from training.data.validate import validate_sources

    report = validate_sources(args.data_dir)
    print(report.format())
    return 0 if report.ok else 1
