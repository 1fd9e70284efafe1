"""Scrape-time metrics in ``--workers`` mode: each worker copies them into multiprocess
values the supervisor's ``/metrics`` sums.

prometheus_client's multiprocess mode (``server.workers``) only exports values written
to its shared files, so collectors that build their families at scrape time
(``server.metrics_tally``, the model info) would vanish from the supervisor's
endpoint. :class:`Mirror` runs in each worker: every ``interval_s`` (and once more when
it stops) it collects them and sets one multiprocess gauge per sample, summed over
workers (``multiprocess_mode="sum"``, dead workers' last values kept, as counters
should be) or, for gauges such as the model info, their maximum. Values are at most one
interval old; the exposition names and labels are the single-process ones, typed gauge.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from prometheus_client import Gauge
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


class Mirror:
    """Copies ``collectors``' samples into multiprocess gauges (see the module docstring)."""

    def __init__(self, collectors: Sequence[Collector], interval_s: float = 1.0) -> None:
        self._collectors = collectors
        self._interval_s = interval_s
        self._gauges: dict[tuple[str, tuple[str, ...]], Gauge] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-mirror", daemon=True)

    def start(self) -> Callable[[], None]:
        """Start copying; returns a function that copies once more and stops."""
        self._thread.start()

        def stop() -> None:
            self._stop.set()
            self._thread.join(timeout=self._interval_s + 5)
            self.sync()

        return stop

    def sync(self) -> None:
        """Copy every sample now."""
        for collector in self._collectors:
            for family in collector.collect():
                mode = "max" if family.type == "gauge" else "sum"
                for sample in family.samples:
                    names = tuple(sorted(sample.labels))
                    gauge = self._gauge(sample.name, family.documentation, names, mode)
                    child = gauge.labels(**sample.labels) if names else gauge
                    child.set(sample.value)

    def _gauge(self, name: str, doc: str, labels: tuple[str, ...], mode: str) -> Gauge:
        key = (name, labels)
        if key not in self._gauges:
            # registry=None: the worker serves nothing itself; the values go to the files.
            self._gauges[key] = Gauge(
                name,
                doc,
                labels,
                registry=None,
                multiprocess_mode=mode,  # type: ignore[arg-type]
            )
        return self._gauges[key]

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.sync()
            except Exception:  # a metrics hiccup must never stop a worker
                log.exception("copying metrics for the supervisor failed")
