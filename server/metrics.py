"""Process metrics (Prometheus): RPCs, decisions, degraded answers, feature reads, breaker
state, the served versions, the decision log.

Metrics live in prometheus_client's default registry, so any exposition of it shows
them; :func:`start_http` serves it on ``metrics_port`` when that setting is non-zero.
Only plain Python here: the transport, the engine and the readers call these helpers
directly. The per-decision ones (decisions by action, score histograms, segments) and the
timings are kept by :mod:`server.metrics_tally` (decisions are counted once per batch);
docs/observability.md lists every metric.

==============================================  =======  ==============================
metric                                          type     meaning
==============================================  =======  ==============================
personalization_rpc_duration_seconds{service,   hist.    RPC latency by final status
method,status}                                           (gRPC code name)
personalization_feature_read_duration_seconds   hist.    one online-store read (a batch
{result}                                                 reads once): ok or failed
personalization_model_info{version,arm,role}    gauge    1 per served version (role:
                                                         arm or shadow)
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
personalization_conversation_state_writes_      counter  conversation-state updates by
total{kind,result}                                       kind (turn, outcome) and result:
                                                         ok, unmatched (outcome of a
                                                         decision not remembered), lost
                                                         (raced past the retries),
                                                         failed (store error)
==============================================  =======  ==============================
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from prometheus_client import REGISTRY, Counter, Gauge, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from server.metrics_mirror import Mirror
from server.metrics_tally import Decided, DecisionStats, Timings
from server.settings import Settings

log = logging.getLogger(__name__)

DECISION_STATS = DecisionStats()
REGISTRY.register(DECISION_STATS)
RPC_SECONDS = Timings(
    "personalization_rpc_duration_seconds",
    "RPC latency in the server (first interceptor to the last), by service, method and "
    "final status.",
    ["service", "method", "status"],
    (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
FEATURE_READ_SECONDS = Timings(
    "personalization_feature_read_duration_seconds",
    "One online-store read (of every distinct customer of a batch), ok or failed "
    "(timed out, refused or undecodable); reads the breaker skipped are not timed.",
    ["result"],
    (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
)
for _collector in (RPC_SECONDS, FEATURE_READ_SECONDS):
    REGISTRY.register(_collector)
FEATURE_READ_SECONDS.declare("ok")
FEATURE_READ_SECONDS.declare("failed")
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
CONVERSATION_WRITES = Counter(
    "personalization_conversation_state_writes",
    "Conversation-state updates by kind (turn, outcome) and result: ok, unmatched (an "
    "outcome of a decision the conversation does not remember), lost (a compare-and-set "
    "race still lost after the retries) or failed (the store failed).",
    ["kind", "result"],
)
_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}
_D = TypeVar("_D", bound=Decided)
#: (rpc, code name) -> (service, method, code name): split once per method and status.
_RPC_KEYS: dict[tuple[str, str], tuple[str, str, str]] = {}
_READ_OK, _READ_FAILED = ("ok",), ("failed",)


def observe_decisions(decisions: list[_D]) -> list[_D]:
    """Count a batch of decisions and their degraded reasons; return the batch."""
    if DECISION_STATS.observe(decisions):  # only a degraded batch pays for the tally
        reasons = Tally(r for d in decisions for r in d.degraded_reasons)
        for reason, count in reasons.items():
            DEGRADED.labels(reason).inc(count)
    return decisions


def observe_rpc(rpc: str, status: str, seconds: float) -> None:
    """Time one finished RPC (``rpc`` is gRPC's ``/package.Service/Method``)."""
    key = _RPC_KEYS.get((rpc, status))
    if key is None:
        service, _, method = rpc.lstrip("/").rpartition("/")
        key = _RPC_KEYS[(rpc, status)] = (service, method, status)
    RPC_SECONDS.observe(key, seconds)


def feature_read(seconds: float, ok: bool) -> None:
    """Time one online-store read that succeeded (``ok``) or failed."""
    FEATURE_READ_SECONDS.observe(_READ_OK if ok else _READ_FAILED, seconds)


class _ServedVersions(Collector):
    """``personalization_model_info``, read from the server's engine at scrape time."""

    def __init__(self) -> None:
        self.source: Callable[[], Iterable[tuple[str, str, str]]] = lambda: ()

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "personalization_model_info",
            "1 per model version this server answers with (role arm, with its arm name, "
            '"" without an experiment) or scores as a shadow (role shadow).',
            labels=["version", "arm", "role"],
        )
        for version, arm, role in self.source():
            info.add_metric([version, arm, role], 1.0)
        yield info


_SERVED = _ServedVersions()
REGISTRY.register(_SERVED)


def served_versions(source: Callable[[], Iterable[tuple[str, str, str]]]) -> None:
    """Publish ``source()`` — (version, arm, role) rows — as the model info at every
    scrape (the latest server built in the process wins)."""
    _SERVED.source = source


def breaker_changed(state: str) -> None:
    """Publish a breaker state change (``closed``, ``half_open`` or ``open``)."""
    BREAKER_STATE.set(_STATE_VALUES[state])
    BREAKER_TRANSITIONS.labels(state).inc()


def log_records(kind: str, result: str, count: int) -> None:
    """Count ``count`` log rows of ``kind`` as ``logged``, ``dropped`` or ``failed``."""
    if count:
        LOG_RECORDS.labels(kind, result).inc(count)


_CONVERSATION_CHILDREN: dict[tuple[str, str], Any] = {}


def conversation_write(kind: str, result: str, count: int = 1) -> None:
    """Count ``count`` conversation-state updates of ``kind`` by their ``result``."""
    # Every turn counts one: the labelled child is looked up once, not per call.
    child = _CONVERSATION_CHILDREN.get((kind, result))
    if child is None:
        child = _CONVERSATION_CHILDREN[kind, result] = CONVERSATION_WRITES.labels(kind, result)
    child.inc(count)


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


def start_mirror() -> Callable[[], None]:
    """In a worker of ``--workers``, whose supervisor serves ``/metrics`` from the
    multiprocess files: copy this worker's scrape-time metrics there every second
    (``server.metrics_mirror``); returns the stop function."""
    return Mirror((DECISION_STATS, RPC_SECONDS, FEATURE_READ_SECONDS, _SERVED)).start()
