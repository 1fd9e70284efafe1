"""The running server: a :class:`grpc.Server` that owns its engine and health status.

``server.stop()`` flips health to NOT_SERVING before draining, so load balancers stop
sending new calls while in-flight ones finish; :class:`ReadinessWatcher` keeps the
health status in step with the engine's readiness while the server runs.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2

from server.audit.writer import AuditWriter
from server.engine.protocol import Engine
from server.logs.base import RecordLog
from server.models.reload import ModelReloader
from server.transport.servicer import SERVICE_NAME

log = logging.getLogger(__name__)

HEALTH_SERVICE_NAME: str = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
#: Health is reported for the whole server ("") and for the personalization service.
HEALTH_SERVICES: tuple[str, ...] = ("", SERVICE_NAME)


class ReadinessWatcher:
    """Mirror ``engine.ready()`` into the health service from a background thread."""

    def __init__(self, engine: Engine, health_servicer: health.HealthServicer, interval_s: float):
        self._engine = engine
        self._health = health_servicer
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="readiness", daemon=True)
        self._serving: bool | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._interval_s + 1.0)

    def check(self) -> bool:
        """Poll the engine once and publish the result if it changed."""
        try:
            serving = bool(self._engine.ready())
        except Exception:  # a broken readiness probe must not kill the watcher
            log.exception("engine.ready() failed; reporting NOT_SERVING")
            serving = False
        if serving != self._serving:
            status = (
                health_pb2.HealthCheckResponse.SERVING
                if serving
                else (health_pb2.HealthCheckResponse.NOT_SERVING)
            )
            for service in HEALTH_SERVICES:
                self._health.set(service, status)
            log.info("health changed", extra={"serving": serving})
            self._serving = serving
        return serving

    def _run(self) -> None:
        while not self._stop.is_set():
            self.check()
            self._stop.wait(self._interval_s)


class PersonalizationServer(grpc.Server):
    """A started-or-not grpc.Server plus the engine, health state and audit log it serves.

    ``record_log`` is the outcome log the server was given (closed by :func:`shutdown`
    after the engine); None when outcomes go to the engine's own log (or nowhere).
    """

    def __init__(
        self,
        inner: grpc.Server,
        engine: Engine,
        health_servicer: health.HealthServicer,
        watcher: ReadinessWatcher,
        audit: AuditWriter | None = None,
        reloader: ModelReloader | None = None,
        record_log: RecordLog | None = None,
    ) -> None:
        self._inner = inner
        self.engine = engine
        self.health = health_servicer
        self.watcher = watcher
        self.audit = audit
        self.reloader = reloader  # None when the engine cannot swap models
        self.record_log = record_log

    def add_generic_rpc_handlers(self, generic_rpc_handlers):  # type: ignore[no-untyped-def]
        self._inner.add_generic_rpc_handlers(generic_rpc_handlers)

    def add_registered_method_handlers(self, service_name, method_handlers):  # type: ignore[no-untyped-def]
        self._inner.add_registered_method_handlers(service_name, method_handlers)

    def add_insecure_port(self, address: str) -> int:
        return self._inner.add_insecure_port(address)

    def add_secure_port(self, address: str, server_credentials: grpc.ServerCredentials) -> int:
        return self._inner.add_secure_port(address, server_credentials)

    def start(self) -> None:
        self._inner.start()
        self.watcher.start()

    def stop(self, grace: float | None) -> threading.Event:
        """Report NOT_SERVING, refuse new RPCs, let in-flight ones finish within ``grace``."""
        self.health.enter_graceful_shutdown()
        self.watcher.stop()
        return self._inner.stop(grace)

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        return self._inner.wait_for_termination(timeout)


def install_signal_handlers(
    stop: threading.Event, hangup: threading.Event | None = None
) -> Callable[[], None]:
    """Make SIGTERM and SIGINT set ``stop`` (and SIGHUP set ``hangup``, if given);
    return a function restoring the old handlers.

    The handler only sets the event (no logging or locks in signal context);
    draining happens in the thread waiting on ``stop``, reloading in the
    :class:`ReloadOnEvent` thread waiting on ``hangup``. Call from the main thread.
    """
    events = {signal.SIGTERM: stop, signal.SIGINT: stop}
    if hangup is not None:
        events[signal.SIGHUP] = hangup

    def handle(signum: int, _frame: FrameType | None) -> None:
        events[signal.Signals(signum)].set()

    previous = {sig: signal.signal(sig, handle) for sig in events}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
