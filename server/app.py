"""Assemble the gRPC server: servicer, interceptors, health, reflection.

``create_server`` builds (does not start) a server around an engine; ``serve`` runs
it until SIGTERM/SIGINT, then ``shutdown`` drains it. An engine that can swap models
(``server.models.reload.Reloadable``) also gets the AdminService (ReloadModels), and
``serve`` reloads ``models/current`` on SIGHUP. The server is a thin
:class:`grpc.Server` wrapper that also owns the engine and the health status, so
``server.stop()`` flips health to NOT_SERVING before draining (server.running). Outcomes
(RecordOutcome) go to the engine's record log (``HasRecordLog``) unless a
``record_log`` is passed; an engine without one and no ``record_log`` logs nothing.
"""

from __future__ import annotations

import logging
import threading
from concurrent import futures
from functools import partial

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from personalization.v1 import personalization_pb2_grpc as pb_grpc
from server import metrics, tracing
from server.audit.interceptor import build_audit
from server.engine.outcomes import OutcomeRecorder
from server.engine.protocol import Engine, HasConversations, HasRecordLog
from server.gc_tuning import tune_gc
from server.logging_setup import configure_logging
from server.logs.base import NullLog, RecordLog
from server.models.experiment import ServedExperiment
from server.models.on_signal import ReloadOnEvent
from server.models.reload import ModelReloader, Reloadable
from server.running import (
    HEALTH_SERVICE_NAME,
    HEALTH_SERVICES,
    PersonalizationServer,
    ReadinessWatcher,
    install_signal_handlers,
)
from server.security.principal import current_key_id
from server.security.setup import build_auth, build_credentials
from server.settings import Settings
from server.transport.access_log import LoggingInterceptor
from server.transport.admin import ADMIN_SERVICE_NAME, OnChange, add_admin_service
from server.transport.interceptors import ErrorInterceptor
from server.transport.limiter import ConcurrencyLimiter
from server.transport.servicer import SERVICE_NAME, PersonalizationServicer
from server.transport.tracing import tracing_interceptor

log = logging.getLogger(__name__)

#: Extra RPC slots above max_concurrent_rpcs for health checks, reflection and the
#: limiter's own rejections (which need a handler thread). Past that, gRPC core
#: refuses calls with RESOURCE_EXHAUSTED without queueing them at all.
RPC_HEADROOM = 32


def server_options(settings: Settings) -> list[tuple[str, int]]:
    """The gRPC server options these settings ask for (also used by the bench baselines)."""
    age_ms = round(settings.max_connection_age_s * 1000)
    aging = [("grpc.max_connection_age_ms", age_ms), ("grpc.max_connection_age_grace_ms", age_ms)]
    return [
        *(aging if age_ms else []),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        # Soft and hard limit alike: core otherwise refuses only a random share of the
        # calls between the two, which makes the limit hard to reason about.
        ("grpc.max_metadata_size", settings.max_metadata_bytes),
        ("grpc.absolute_max_metadata_size", settings.max_metadata_bytes),
        # gRPC enables SO_REUSEPORT by default, which lets a second server silently
        # share a busy port; only the multi-process mode wants that.
        ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
    ]


def outcome_log(engine: Engine, record_log: RecordLog | None) -> RecordLog:
    """Where outcomes go: ``record_log`` if given, else the engine's log, else nowhere."""
    if record_log is not None:
        return record_log
    if isinstance(engine, HasRecordLog):
        return engine.record_log
    return NullLog()


def _add_services(
    server: grpc.Server,
    engine: Engine,
    settings: Settings,
    record_log: RecordLog,
    on_admin_change: OnChange | None,
) -> tuple[health.HealthServicer, ModelReloader | None]:
    conversations = engine.conversations if isinstance(engine, HasConversations) else None
    recorder = OutcomeRecorder(record_log, conversations=conversations)
    servicer = PersonalizationServicer(engine, settings, recorder, principal=current_key_id)
    pb_grpc.add_PersonalizationServiceServicer_to_server(servicer, server)
    reloader = None
    if isinstance(engine, Reloadable):
        reloader = ModelReloader(engine, settings.models_dir)
        add_admin_service(server, reloader, on_admin_change)
    health_servicer = health.HealthServicer(
        experimental_non_blocking=True,
        experimental_thread_pool=futures.ThreadPoolExecutor(max_workers=1),
    )
    for service in HEALTH_SERVICES:
        health_servicer.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    admin = (ADMIN_SERVICE_NAME,) if reloader is not None else ()
    reflection.enable_server_reflection(
        (SERVICE_NAME, *admin, HEALTH_SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    return health_servicer, reloader


def create_server(
    settings: Settings,
    engine: Engine | None = None,
    record_log: RecordLog | None = None,
    on_admin_change: OnChange | None = None,
) -> tuple[grpc.Server, int]:
    """Build a server bound to ``settings.host:port`` and return it with the bound port.

    Without ``engine`` the real one is built by ``server.engine.factory.build_engine``.
    Outcomes are submitted to ``record_log``, else to the engine's record log (see
    :func:`outcome_log`); a ``record_log`` passed here is closed by :func:`shutdown`.
    The server is not started. Health reports NOT_SERVING until the engine is ready.
    Key file, TLS files and the audit log are opened here, so a bad path fails now.
    """
    auth, credentials = build_auth(settings), build_credentials(settings)
    audit = build_audit(settings)  # last: the only one holding an open file
    # Outermost first: the access log sees every final status; the limiter counts
    # rejected calls too (they also occupy a handler thread); auth runs before
    # anything that does work; audit sees the principal and the final status.
    chain = [
        tracing_interceptor(settings),  # None unless tracing is on; outermost: the RPC span
        LoggingInterceptor(log_ok=settings.access_log),
        ConcurrencyLimiter(settings.max_concurrent_rpcs, [SERVICE_NAME]),
        auth,
        audit,
        ErrorInterceptor(),
    ]
    interceptors = [i for i in chain if i is not None]
    owns_engine = engine is None
    try:
        if engine is None:
            from server.engine.factory import build_engine  # heavy: feast, onnxruntime

            engine = build_engine(settings)
        metrics.served_versions(partial(served_versions, engine))
        inner = grpc.server(
            futures.ThreadPoolExecutor(settings.thread_pool_size, thread_name_prefix="rpc"),
            interceptors=interceptors,
            options=server_options(settings),
            maximum_concurrent_rpcs=settings.max_concurrent_rpcs + RPC_HEADROOM,
        )
        health_servicer, reloader = _add_services(
            inner, engine, settings, outcome_log(engine, record_log), on_admin_change
        )
        port = (
            inner.add_secure_port(settings.address, credentials)
            if credentials is not None
            else inner.add_insecure_port(settings.address)
        )
    except Exception:
        if owns_engine and engine is not None:
            engine.close()
        if audit is not None:
            audit.writer.close()
        raise
    watcher = ReadinessWatcher(engine, health_servicer, settings.readiness_poll_s)
    writer = audit.writer if audit is not None else None
    server = PersonalizationServer(
        inner, engine, health_servicer, watcher, writer, reloader, record_log
    )
    return server, port


def served_versions(engine: Engine) -> list[tuple[str, str, str]]:
    """(version, arm, role) of what ``engine`` serves, for ``personalization_model_info``."""
    served = getattr(engine, "experiment", None)  # the real engine's; fakes serve one
    if not isinstance(served, ServedExperiment):
        return [(engine.model_version, "", "arm")]
    rows = [(a.bundle.version, a.name, "arm") for a in served.arms]
    return rows + [(b.version, "", "shadow") for b in served.shadows]


def shutdown(server: grpc.Server, grace: float | None) -> None:
    """Stop accepting RPCs, wait up to ``grace`` s for in-flight ones, then close the
    engine (which writes out its decision log: after the drain, so every decision the
    server answered is in it), the outcome log it was given and the audit log."""
    server.stop(grace).wait()
    if isinstance(server, PersonalizationServer):
        server.engine.close()
        if server.record_log is not None:
            server.record_log.close(grace)
        if server.audit is not None:
            server.audit.close()


def serve(
    settings: Settings,
    engine: Engine | None = None,
    on_admin_change: OnChange | None = None,
    mirror_metrics: bool = False,
) -> None:
    """Run one server process until SIGTERM/SIGINT, then drain within grace_period_s.
    SIGHUP reloads ``models/current``. ``engine``, ``on_admin_change``: :func:`create_server`.
    ``mirror_metrics``: a ``--workers`` worker, whose supervisor serves ``/metrics``.

    If the server cannot start (e.g. ``ModelLoadError``), logs why and raises
    ``SystemExit(1)``, so the process exits non-zero without a second traceback.
    """
    configure_logging(settings.log_level, settings.log_json)
    stop, hangup = threading.Event(), threading.Event()
    # Before the slow engine build: no lost signal, and an early SIGHUP (whose default
    # action is to terminate) only queues a reload.
    restore = install_signal_handlers(stop, hangup)
    reload_worker: ReloadOnEvent | None = None
    try:
        try:
            server, port = create_server(settings, engine, on_admin_change=on_admin_change)
            server.start()
        except Exception:
            log.exception("server failed to start")
            raise SystemExit(1) from None
        stop_metrics = (
            metrics.start_mirror() if mirror_metrics else metrics.start_from_settings(settings)
        )
        tune_gc(settings.gc_tuning)  # the engine is built and warmed up by now
        reloader = getattr(server, "reloader", None)
        if reloader is not None:
            reload_worker = ReloadOnEvent(reloader, hangup)
            reload_worker.start()
        log.info("server started", extra={"host": settings.host, "port": port})
        stop.wait()
        log.info("server stopping", extra={"grace_period_s": settings.grace_period_s})
        if reload_worker is not None:
            reload_worker.stop()  # waits for a reload in progress; none start after
        shutdown(server, settings.grace_period_s)
        if stop_metrics is not None:
            stop_metrics()
        tracing.uninstall()  # flushes the spans still batched
        log.info("server stopped")
    finally:
        restore()
