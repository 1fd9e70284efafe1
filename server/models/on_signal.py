"""Reload on a signal: SIGHUP sets an event, a worker thread does the slow part."""

from __future__ import annotations

import contextlib
import threading

from server.models.reload import ModelReloader


class ReloadOnEvent:
    """Reloads ``models/current`` on a worker thread each time ``event`` is set.

    The SIGHUP handler only sets the event (no locks or I/O in signal context); this
    thread does the slow part. Signals arriving during a reload coalesce into one more.
    """

    def __init__(self, reloader: ModelReloader, event: threading.Event) -> None:
        self._reloader = reloader
        self._event = event
        self._closing = False
        self._attempts = 0
        self._thread = threading.Thread(target=self._run, name="model-reload", daemon=True)

    @property
    def attempts(self) -> int:
        """Reloads finished so far (refused ones included)."""
        return self._attempts

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._closing = True
        self._event.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            self._event.wait()
            if self._closing:
                return
            self._event.clear()
            # reload() already logged why it failed; the old version keeps serving.
            with contextlib.suppress(Exception):
                self._reloader.reload()
            self._attempts += 1
