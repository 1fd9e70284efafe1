"""``python -m server [--host H] [--port N] [--workers N]``: run the gRPC server.

Settings come from ``PERSONALIZATION_*`` environment variables; flags override them.
With ``workers > 1`` this process only supervises (server.workers): it spawns that
many server processes sharing the port through SO_REUSEPORT (each one has its own GIL
and engine), passes signals and reloads on to them, serves their metrics together and
exits when they have drained.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from server.app import serve
from server.settings import Settings


def parse_settings(argv: list[str] | None = None) -> Settings:
    """Settings from the environment, with command-line flags taking precedence."""
    parser = argparse.ArgumentParser(
        prog="python -m server", description="Run the personalization gRPC server."
    )
    parser.add_argument("--host", help="listen address (default from env or '[::]')")
    parser.add_argument("--port", type=int, help="listen port; 0 picks a free one")
    parser.add_argument("--workers", type=int, help="server processes sharing the port")
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {k: v for k, v in vars(args).items() if v is not None}
    return Settings(**overrides)


def main(argv: list[str] | None = None) -> int:
    settings = parse_settings(argv)
    if settings.workers > 1:
        from server.workers import supervise

        return supervise(settings)
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
