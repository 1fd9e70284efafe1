"""``python -m server.events``: consume the events stream until SIGTERM/SIGINT.

Settings are the server's (``PERSONALIZATION_*``; the ``events_*`` ones in
server/settings_events.py). Run one or more such processes per group; each gets a
share of the entries. On SIGTERM the current batch finishes, the offline rows are
written and acknowledged, and the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from prometheus_client import start_http_server

from server.errors import PersonalizationError
from server.events.build import build_consumer
from server.logging_setup import configure_logging
from server.settings import Settings

log = logging.getLogger("server.events")


def main() -> int:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    try:
        consumer = build_consumer(settings)
    except PersonalizationError as exc:
        log.error("events: %s", exc)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("events: signal %d, stopping after this batch", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if settings.events_metrics_port:
        start_http_server(settings.events_metrics_port, addr=settings.metrics_host)
    consumer.run(stop)
    log.info("events: stopped; %s", consumer.tally)
    return 0


if __name__ == "__main__":
    sys.exit(main())
