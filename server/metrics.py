"""Process metrics (Prometheus): decisions, degraded answers, breaker state, the decision log.

Counters live in prometheus_client's default registry, so any exposition of it shows
them; :func:`start_http` serves it on ``metrics_port`` when that setting is non-zero.
Only plain Python here: the engine and the readers call these helpers directly.

==============================================  =======  ==============================
metric                                          type     meaning
==============================================  =======  ==============================
personalization_decisions_total                 counter  decisions made (a batch counts
                                                         one per request)
personalization_degraded_total{reason}          counter  degraded decisions, per reason
personalization_feature_breaker_state           gauge    0 closed, 1 half-open, 2 open
personalization_feature_breaker_transitions_    counter  breaker state changes, by the
total{state}                                             state entered
personalization_log_records_total{kind,result}  counter  decision/outcome log rows by
                                                         fate: logged (written by the
                                                         sink), dropped (queue full or
                                                         log closed), failed (the sink
                                                         kept failing)
personalization_log_queue_depth{kind}           gauge    rows queued for the log writer
==============================================  =======  ==============================
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from prometheus_client import Counter, Gauge, start_http_server

from server.settings import Settings

log = logging.getLogger(__name__)

DECISIONS = Counter(
    "personalization_decisions", "Decisions made; a DecideBatch counts one per request."
)
DEGRADED = Counter(
    "personalization_degraded",
    "Decisions that fell back to defaults or stale features, per degraded reason.",
    ["reason"],
)
BREAKER_STATE = Gauge(
    "personalization_feature_breaker_state",
    "Online-store circuit breaker: 0 closed, 1 half-open (probing), 2 open (failing fast).",
)
BREAKER_TRANSITIONS = Counter(
    "personalization_feature_breaker_transitions",
    "Online-store circuit breaker state changes, by the state entered.",
    ["state"],
)
LOG_RECORDS = Counter(
    "personalization_log_records",
    "Decision/outcome log rows by kind and result: logged, dropped (queue full or log "
    "closed) or failed (the sink kept failing).",
    ["kind", "result"],
)
LOG_QUEUE_DEPTH = Gauge(
    "personalization_log_queue_depth", "Rows waiting for the log writer, per kind.", ["kind"]
)
_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}


class _Observed(Protocol):
    @property
    def degraded_reasons(self) -> Sequence[str]: ...


_D = TypeVar("_D", bound=_Observed)


def observe_decisions(decisions: list[_D]) -> list[_D]:
    """Count a batch of decisions and their degraded reasons; return the batch."""
    DECISIONS.inc(len(decisions))
    reasons = Tally(r for d in decisions for r in d.degraded_reasons)
    for reason, count in reasons.items():
        DEGRADED.labels(reason).inc(count)
    return decisions


def breaker_changed(state: str) -> None:
    """Publish a breaker state change (``closed``, ``half_open`` or ``open``)."""
    BREAKER_STATE.set(_STATE_VALUES[state])
    BREAKER_TRANSITIONS.labels(state).inc()


def log_records(kind: str, result: str, count: int) -> None:
    """Count ``count`` log rows of ``kind`` as ``logged``, ``dropped`` or ``failed``."""
    if count:
        LOG_RECORDS.labels(kind, result).inc(count)


def log_queue_depth(kind: str, depth: Callable[[], float]) -> None:
    """Publish how many rows of ``kind`` wait for the log writer: ``depth`` is read at
    scrape time, so queueing a row costs no metric update on the request path."""
    LOG_QUEUE_DEPTH.labels(kind).set_function(depth)


def start_http(port: int, host: str = "127.0.0.1") -> Callable[[], None] | None:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread; return a stop function.

    ``port == 0`` means off (returns None). A port already taken (e.g. by another
    worker process of the same server) is logged and skipped: metrics are not worth
    refusing to serve decisions over.
    """
    if port == 0:
        return None
    try:
        server, thread = start_http_server(port, addr=host)
    except OSError as exc:
        log.warning("metrics endpoint not started", extra={"port": port, "error": str(exc)})
        return None
    log.info("metrics endpoint started", extra={"host": host, "port": port})

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


def start_from_settings(settings: Settings) -> Callable[[], None] | None:
    """:func:`start_http` with ``settings.metrics_port`` / ``metrics_host``."""
    return start_http(settings.metrics_port, settings.metrics_host)
