"""The ``--online-store`` flag of the training commands, defaulted from the shared switch.

Commands never read ``PERSONALIZATION_ONLINE_STORE`` themselves: the default comes from
:class:`modelio.store.StoreSettings`, the same object the server's settings extend, so
both sides pick the same store from the same variables.
"""

from __future__ import annotations

import argparse
from functools import cache

from modelio.store import STORE_KINDS, StoreSettings


@cache
def store_settings() -> StoreSettings:
    """The environment's store switch, read once per process."""
    return StoreSettings()


def add_online_store(
    parser: argparse.ArgumentParser, help_text: str | None = None, repeatable: bool = False
) -> None:
    """``--online-store`` (one of STORE_KINDS); repeatable flags default to None."""
    parser.add_argument(
        "--online-store",
        choices=STORE_KINDS,
        action="append" if repeatable else "store",
        default=None if repeatable else store_settings().online_store,
        help=help_text,
    )
