"""One module per ``python -m training`` command, each with ``configure`` and ``run``."""

import argparse


def positive(text: str) -> int:
    """argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value
