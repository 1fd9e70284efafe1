"""``--workers N``: one supervisor process, N server processes sharing the port.

Each worker is a full server (own GIL, engine and connections) on the same port via
SO_REUSEPORT. The supervisor serves no RPCs; it

* forwards SIGTERM/SIGINT to the workers and exits when they have drained;
* forwards **SIGHUP** to every worker, so a reload of ``models/`` reaches all of them.
  An admin change on one worker (ReloadModels without a version, LoadExperiment,
  PromoteArm: their result is what a reload of ``models/`` gives) is passed on the
  same way to the other workers. ReloadModels *with* a version changes only the
  worker the call landed on (logged as a warning): point ``models/current`` at it and
  reload without a version instead;
* serves **/metrics** on ``metrics_port`` for all workers at once: they write their
  metrics to files in a shared folder (prometheus_client's multiprocess mode,
  ``PROMETHEUS_MULTIPROC_DIR``) and the supervisor's endpoint sums them up. Counters
  are summed over the workers; gauges carry a ``pid`` label per worker; gauges read at
  scrape time (the log queue depth) are per-process only and are not exported.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from server.app import serve
from server.logging_setup import configure_logging
from server.running import install_signal_handlers
from server.settings import Settings

log = logging.getLogger("server")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def run_worker(settings: Settings, index: int, changes: Any, mirror_metrics: bool) -> None:
    """A worker's main: :func:`server.app.serve`, telling the supervisor of admin changes
    (and, when the supervisor serves /metrics, mirroring this worker's metrics for it)."""
    serve(
        settings,
        on_admin_change=lambda version: changes.put((index, version)),
        mirror_metrics=mirror_metrics,
    )


def _metrics_dir(settings: Settings) -> Path | None:
    """A fresh folder for the workers' metric files (under ``$PROMETHEUS_MULTIPROC_DIR``
    when set), exported to the environment the workers inherit; None without metrics."""
    if settings.metrics_port == 0:
        return None
    parent = os.environ.get(MULTIPROC_ENV) or None
    folder = Path(tempfile.mkdtemp(prefix="personalization-metrics-", dir=parent))
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder


def _serve_metrics(settings: Settings, folder: Path) -> Callable[[], None] | None:
    """/metrics on ``metrics_port``: every worker's metric files, summed."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))
    try:
        httpd, thread = start_http_server(
            settings.metrics_port, addr=settings.metrics_host, registry=registry
        )
    except OSError as exc:
        log.warning("metrics endpoint not started", extra={"error": str(exc)})
        return None
    log.info("metrics endpoint started", extra={"workers_dir": str(folder)})

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)

    return stop


def _signal_all(procs: list[BaseProcess], sig: int, skip: int | None = None) -> None:
    for i, proc in enumerate(procs):
        if i != skip and proc.is_alive() and proc.pid is not None:
            os.kill(proc.pid, sig)


def _pass_on(procs: list[BaseProcess], hangup: threading.Event, changes: Any) -> None:
    """Forward a SIGHUP to every worker, an admin change to the others."""
    if hangup.is_set():
        hangup.clear()
        _signal_all(procs, signal.SIGHUP)
        log.info("reload passed on to every worker", extra={"workers": len(procs)})
    try:
        index, version = changes.get(timeout=0.2)
    except queue.Empty:
        return
    if version:
        log.warning(
            "ReloadModels with a version reached one worker only; point models/current at "
            "it and reload without a version to reach all",
            extra={"worker": index, "model_version": version},
        )
        return
    _signal_all(procs, signal.SIGHUP, skip=index)
    log.info("admin change passed on to the other workers", extra={"worker": index})


def supervise(settings: Settings) -> int:
    """Run ``settings.workers`` server processes; return non-zero if one failed."""
    if settings.port == 0:
        raise SystemExit("--workers > 1 needs a fixed port (SO_REUSEPORT shares it)")
    configure_logging(settings.log_level, settings.log_json)
    folder = _metrics_dir(settings)
    # spawn, not fork: gRPC's threads do not survive fork and each child builds its own.
    ctx = multiprocessing.get_context("spawn")
    changes = ctx.Queue()
    worker_settings = settings.model_copy(update={"metrics_port": 0})  # ours serves them
    procs: list[BaseProcess] = [
        ctx.Process(
            target=run_worker,
            args=(worker_settings, i, changes, folder is not None),
            name=f"worker-{i}",
        )
        for i in range(settings.workers)
    ]
    stop, hangup = threading.Event(), threading.Event()
    # Ignored signals stay ignored across exec: a SIGHUP reaching a worker before its
    # handler is installed must not kill it (serve() installs the real one early).
    previous_hup = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        for proc in procs:
            proc.start()
    finally:
        signal.signal(signal.SIGHUP, previous_hup)
    restore = install_signal_handlers(stop, hangup)
    stop_metrics = _serve_metrics(settings, folder) if folder is not None else None
    log.info("workers started", extra={"workers": len(procs), "port": settings.port})
    try:
        # Until a signal arrives or any worker dies, whichever comes first.
        while not stop.is_set() and all(p.is_alive() for p in procs):
            _pass_on(procs, hangup, changes)
        _signal_all(procs, signal.SIGTERM)
        for proc in procs:
            proc.join(settings.grace_period_s + 5.0)
            if proc.is_alive():  # did not drain in time
                proc.kill()
                proc.join()
    finally:
        restore()
        if stop_metrics is not None:
            stop_metrics()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    failed = [p.name for p in procs if p.exitcode not in (0, -signal.SIGTERM)]
    log.info("workers stopped", extra={"failed": failed})
    return 1 if failed or not stop.is_set() else 0
