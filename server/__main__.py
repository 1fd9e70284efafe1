"""``python -m server [--host H] [--port N] [--workers N]``: run the gRPC server.

Settings come from ``PERSONALIZATION_*`` environment variables; flags override them.
With ``workers > 1`` this process only supervises: it spawns that many server
processes sharing the port through SO_REUSEPORT (each one has its own GIL and
engine), forwards SIGTERM/SIGINT to them and exits when they have drained.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import signal
import sys
import threading
from typing import Any

from server.app import install_signal_handlers, serve
from server.logging_setup import configure_logging
from server.settings import Settings

log = logging.getLogger("server")


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


def supervise(settings: Settings) -> int:
    """Run ``settings.workers`` server processes; return non-zero if one failed."""
    if settings.port == 0:
        raise SystemExit("--workers > 1 needs a fixed port (SO_REUSEPORT shares it)")
    configure_logging(settings.log_level, settings.log_json)
    # spawn, not fork: gRPC's threads do not survive fork and each child builds its own.
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=serve, args=(settings,), name=f"worker-{i}")
        for i in range(settings.workers)
    ]
    stop = threading.Event()
    restore = install_signal_handlers(stop)
    for proc in procs:
        proc.start()
    log.info("workers started", extra={"workers": len(procs), "port": settings.port})
    # Wake up when a signal arrives or any worker dies, whichever comes first.
    while not stop.wait(0.5) and all(p.is_alive() for p in procs):
        pass
    for proc in procs:
        if proc.is_alive() and proc.pid is not None:
            os.kill(proc.pid, signal.SIGTERM)
    for proc in procs:
        proc.join(settings.grace_period_s + 5.0)
        if proc.is_alive():  # did not drain in time
            proc.kill()
            proc.join()
    restore()
    failed = [p.name for p in procs if p.exitcode not in (0, -signal.SIGTERM)]
    log.info("workers stopped", extra={"failed": failed})
    return 1 if failed or not stop.is_set() else 0


def main(argv: list[str] | None = None) -> int:
    settings = parse_settings(argv)
    if settings.workers > 1:
        return supervise(settings)
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
