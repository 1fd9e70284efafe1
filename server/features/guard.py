"""Degraded mode around any feature reader: a time budget, a circuit breaker, a cache.

:class:`GuardedReader` wraps the store-specific reader (Redis, Feast/SQLite) so that a
failing, slow or corrupt online store costs each request at most its budget:

* **Budget.** A reader that times out by itself within the budget (``self_timeout_s``,
  e.g. Redis with socket timeouts) runs on the request's own thread. Any other read
  runs on a small dedicated thread pool; the request stops waiting after
  ``budget_s`` (+ ``per_customer_s`` per customer) and answers degraded
  (``feature_timeout``). The late read finishes in the background. The pool is
  bounded and never queues: with every thread busy a request fails fast instead, so
  reads abandoned on a hung store cannot pile up.
* **Breaker.** Failures and timeouts feed a :class:`~server.features.breaker.
  CircuitBreaker`; while it is open requests fail fast (``circuit_open``) without
  touching the store, and one probe per ``open_s`` finds out when it is back.
* **Garbage.** Anything else a read raises (e.g. undecodable bytes in Redis) becomes
  ``feature_decode_error`` instead of an INTERNAL error; the store did answer, so the
  breaker counts it as a success.
* **Cache** (optional). A failed read is answered from the last-known features of each
  customer (:class:`~server.features.cache.ProfileCache`), flagged ``stale_features``.

Readiness: once the store answered a ping, :meth:`GuardedReader.ping` stays True, so
an outage degrades answers instead of taking the server out of its load balancer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from server import metrics
from server.features.base import (
    CustomerFeatures,
    DegradedFeatures,
    FeatureReader,
    FeatureReadError,
)
from server.features.breaker import BreakerState, CircuitBreaker
from server.features.cache import ProfileCache
from server.features.conversation import ConversationRead, ConversationStore
from server.settings import Settings

log = logging.getLogger(__name__)

STALE = "stale_features"
GARBAGE_LOG_INTERVAL_S = 60.0
_T = TypeVar("_T")


def log_breaker_change(old: BreakerState, new: BreakerState, why: str) -> None:
    """One WARNING per state change (never per request) and the metrics gauge."""
    metrics.breaker_changed(new.value)
    message = {
        BreakerState.OPEN: "feature store circuit breaker opened: answering degraded",
        BreakerState.HALF_OPEN: "feature store circuit breaker half-open: probing",
        BreakerState.CLOSED: "feature store circuit breaker closed: store recovered",
    }[new]
    log.warning(message, extra={"breaker_from": old.value, "breaker_to": new.value, "why": why})


class GuardedReader(FeatureReader):
    """``inner`` with a read budget, a circuit breaker and an optional stale cache."""

    def __init__(
        self,
        inner: FeatureReader,
        budget_s: float,
        breaker: CircuitBreaker,
        cache: ProfileCache | None = None,
        per_customer_s: float = 0.0,
        threads: int = 8,
    ) -> None:
        self.inner = inner
        self._budget_s = budget_s
        self._per_customer_s = per_customer_s
        self.breaker = breaker
        self.cache = cache
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="feature-read")
        # One permit per pool thread, taken before submit and released when the read
        # ends: a read never waits in the pool's queue behind reads of a hung store.
        self._slots = threading.BoundedSemaphore(threads)
        self._threads = threads
        self._was_up = False
        self._garbage_logged = -GARBAGE_LOG_INTERVAL_S
        # The thread hand-off costs about 50 µs per read, a quarter of a Redis read.
        own = inner.self_timeout_s
        self._inline = own is not None and own <= budget_s

    @property
    def spec(self) -> Any:
        """The inner reader's ServiceSpec (the engine checks reloaded models against it)."""
        return getattr(self.inner, "spec", None)

    def read(self, customer_ids: Sequence[str]) -> list[CustomerFeatures]:
        if not customer_ids:
            return []
        return self._guarded(customer_ids, lambda: self.inner.read(customer_ids), list, list)

    def read_with(
        self,
        customer_ids: Sequence[str],
        conversations: ConversationStore,
        conversation_ids: Sequence[str],
    ) -> tuple[list[CustomerFeatures], list[ConversationRead]]:
        """Both reads under one budget and breaker. When they fail the customers get
        the usual fallback (cache, or FeatureReadError) and every conversation is
        read as unavailable (``ConversationRead.unavailable``)."""
        if not conversation_ids:
            return self.read(customer_ids), []
        return self._guarded(
            customer_ids,
            lambda: self.inner.read_with(customer_ids, conversations, conversation_ids),
            lambda rows: (
                rows,
                [ConversationRead(c, None, -1.0, None, True) for c in conversation_ids],
            ),
            lambda got: got[0],
        )

    def _guarded(
        self,
        customer_ids: Sequence[str],
        call: Callable[[], _T],
        fallback: Callable[[list[Any]], _T],
        rows_of: Callable[[_T], list[CustomerFeatures]],
    ) -> _T:
        """``call()`` within the budget and breaker; on failure ``fallback`` of the
        customers' fallback rows (which raises when there is nothing to serve).
        ``rows_of`` picks the customers' rows out of a result (for the cache)."""
        if not self.breaker.allow():
            return fallback(self._fallback(customer_ids, "circuit_open", "the store keeps failing"))
        started, ok = time.perf_counter(), False
        try:
            got = self._within_budget(call, len(customer_ids))
            ok = True
        except FeatureReadError as exc:
            self.breaker.record_failure(exc.reason)
            return fallback(self._fallback(customer_ids, exc.reason, str(exc)))
        except Exception as exc:  # the store answered, with something we cannot decode
            self.breaker.record_success()
            self._log_garbage(exc)
            return fallback(self._fallback(customer_ids, "feature_decode_error", repr(exc)))
        finally:
            metrics.feature_read(time.perf_counter() - started, ok)
        self.breaker.record_success()
        if self.cache is not None:
            self.cache.update(rows_of(got))
        return got

    def _within_budget(self, call: Callable[[], _T], customers: int) -> _T:
        if self._inline:
            return call()
        if not self._slots.acquire(blocking=False):
            raise FeatureReadError(
                "feature_timeout", f"all {self._threads} feature-read threads wait on the store"
            )
        try:
            future = self._pool.submit(self._run, call)
        except RuntimeError as exc:  # pool shut down: the reader is closed
            self._slots.release()
            raise FeatureReadError("feature_store_unavailable", "reader closed") from exc
        budget = self._budget_s + self._per_customer_s * customers
        try:
            return future.result(timeout=budget)
        except FutureTimeout:
            # Not cancelled: _run releases the slot when the store finally answers.
            raise FeatureReadError(
                "feature_timeout", f"no answer within {budget * 1000:.0f} ms"
            ) from None

    def _run(self, call: Callable[[], _T]) -> _T:
        try:
            return call()
        finally:
            self._slots.release()

    def _fallback(self, customer_ids: Sequence[str], reason: str, detail: str) -> list[Any]:
        """Cached rows where there are some, else raise for the engine to degrade."""
        cached = self.cache.get_many(customer_ids) if self.cache is not None else {}
        if not cached:
            raise FeatureReadError(reason, detail)
        stale = (reason, STALE)
        return [
            DegradedFeatures(cid, row.values, row.event_times, row.realtime_time, stale)
            if (row := cached.get(cid)) is not None
            else DegradedFeatures(cid, degraded_reasons=(reason,))
            for cid in customer_ids
        ]

    def _log_garbage(self, exc: Exception) -> None:
        # Corrupt data is usually one hot customer: say so once a minute, not per request.
        now = time.monotonic()
        if now - self._garbage_logged >= GARBAGE_LOG_INTERVAL_S:
            self._garbage_logged = now
            log.warning("undecodable online features: answering degraded", exc_info=exc)

    def ping(self) -> bool:
        """True once the store has answered: later outages degrade, they do not unready."""
        if not self._was_up:
            self._was_up = bool(self.inner.ping())
        return self._was_up

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.inner.close()


def guard_reader(inner: FeatureReader, settings: Settings) -> GuardedReader:
    """``inner`` guarded as ``settings`` say (budget, breaker, stale-features cache).

    Warms ``inner`` up first with one throw-away read: Feast's first read loads its
    registry and plans lazily (over 100 ms on SQLite), which must not be the first
    request's budget. A store that is down at startup only logs.
    """
    threads = settings.feature_read_threads or 2 * settings.thread_pool_size
    ttl = settings.feature_cache_ttl_s
    breaker = CircuitBreaker(
        settings.breaker_failure_threshold, settings.breaker_open_s, on_change=log_breaker_change
    )
    metrics.BREAKER_STATE.set(0)  # a new breaker starts closed
    try:
        inner.read(["__warm_up__"])
    except Exception as exc:
        log.warning("feature store warm-up read failed", extra={"error": repr(exc)})
    return GuardedReader(
        inner,
        settings.feature_budget_ms / 1000.0,
        breaker,
        cache=ProfileCache(ttl, settings.feature_cache_size) if ttl > 0 else None,
        per_customer_s=settings.feature_budget_per_customer_ms / 1000.0,
        threads=threads,
    )
