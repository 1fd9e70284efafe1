"""Degraded mode: the circuit breaker, the guarded reader (budget, garbage, stale cache),
metrics, and a real Redis that is slow or holds undecodable bytes."""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis
from prometheus_client import REGISTRY

from personalization.v1 import personalization_pb2 as pb
from personalization.v1 import personalization_pb2_grpc as pb_grpc
from server import metrics
from server.app import create_server, shutdown
from server.engine.decide import DecisionEngine
from server.engine.factory import build_engine
from server.features.base import CustomerFeatures, FeatureReader, FeatureReadError
from server.features.breaker import BreakerState, CircuitBreaker
from server.features.cache import ProfileCache
from server.features.guard import GuardedReader, log_breaker_change
from server.models.runner import ModelRunner
from server.settings import Settings
from tests.support.chaos import DelayProxy, private_redis
from tests.support.engines import PROFILE, SUPPORT, features, turn
from tests.support.feast import FeastFixture
from tests.support.redis_server import RedisServer, free_port
from tests.support.servers import make_request, test_settings

# ---- fakes --------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeReader(FeatureReader):
    """Known rows; ``error`` (an exception) makes reads raise; ``gate`` makes them block."""

    def __init__(self, rows: dict[str, dict[str, Any]] | None = None) -> None:
        self.rows = {cid: features(cid, values) for cid, values in (rows or {}).items()}
        self.error: Exception | None = None
        self.gate: threading.Event | None = None
        self.calls = 0
        self.up = True

    def read(self, customer_ids: Sequence[str]) -> list[CustomerFeatures]:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(5)
        if self.error is not None:
            raise self.error
        return [self.rows.get(cid) or CustomerFeatures(cid) for cid in customer_ids]

    def ping(self) -> bool:
        return self.up


def guarded(
    inner: FeatureReader,
    clock: FakeClock | None = None,
    cache: ProfileCache | None = None,
    threshold: int = 3,
) -> GuardedReader:
    breaker = CircuitBreaker(
        threshold, 5.0, clock=clock or FakeClock(), on_change=log_breaker_change
    )
    return GuardedReader(inner, 0.05, breaker, cache=cache, threads=2)


def reason_of(reader: GuardedReader, ids: Sequence[str] = ("C1",)) -> str:
    with pytest.raises(FeatureReadError) as failed:
        reader.read(ids)
    return failed.value.reason


def down() -> FeatureReadError:
    return FeatureReadError("feature_store_unavailable", "connection refused")


# ---- breaker --------------------------------------------------------------------------


def test_breaker_opens_after_threshold_fails_fast_probes_and_closes() -> None:
    clock, changes = FakeClock(), []
    breaker = CircuitBreaker(3, 5.0, clock=clock, on_change=lambda *c: changes.append(c[1]))
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure("feature_timeout")
    breaker.record_success()  # resets the consecutive count
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure("feature_timeout")
    assert breaker.state is BreakerState.OPEN
    clock.now += 4.9
    assert not breaker.allow()  # fails fast while open
    clock.now += 0.1
    assert breaker.allow()  # the one half-open probe...
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow() and not breaker.allow()  # ...and no one else
    breaker.record_failure("feature_store_unavailable")  # probe failed: open again
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    clock.now += 5.0
    assert breaker.allow()
    breaker.record_success()  # probe succeeded
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    assert changes == ["open", "half_open", "open", "half_open", "closed"]


def test_breaker_ignores_late_success_while_open_and_retries_a_lost_probe() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1, 2.0, clock=clock)
    breaker.record_failure("feature_timeout")
    breaker.record_success()  # a straggler admitted before it opened
    assert breaker.state is BreakerState.OPEN
    clock.now += 2.0
    assert breaker.allow() and not breaker.allow()
    clock.now += 2.0  # the probe never reported back: allow another one
    assert breaker.allow()


# ---- guarded reader -------------------------------------------------------------------


def test_breaker_state_changes_log_one_warning_each(caplog: pytest.LogCaptureFixture) -> None:
    inner, clock = FakeReader(), FakeClock()
    reader = guarded(inner, clock)
    inner.error = down()
    with caplog.at_level(logging.WARNING, logger="server.features.guard"):
        reasons = [reason_of(reader) for _ in range(10)]
        assert reasons == ["feature_store_unavailable"] * 3 + ["circuit_open"] * 7
        assert inner.calls == 3  # open: the store is not touched
        assert REGISTRY.get_sample_value("personalization_feature_breaker_state") == 2
        inner.error = None
        clock.now += 5.0
        assert reader.read(["C1"])[0].customer_id == "C1"  # the probe
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3, messages
    assert [r.breaker_to for r in caplog.records] == ["open", "half_open", "closed"]  # type: ignore[attr-defined]
    assert REGISTRY.get_sample_value("personalization_feature_breaker_state") == 0


def test_budget_stops_waiting_and_a_busy_pool_fails_fast() -> None:
    inner = FakeReader()
    inner.gate = threading.Event()
    reader = guarded(inner, threshold=100)
    started = time.monotonic()
    assert reason_of(reader) == "feature_timeout"
    assert reason_of(reader) == "feature_timeout"
    assert time.monotonic() - started < 1.0  # 2 x 50 ms budget, generous bound
    calls = inner.calls
    started = time.monotonic()
    assert reason_of(reader) == "feature_timeout"  # both threads still hang: no wait
    assert inner.calls == calls and time.monotonic() - started < 0.04
    inner.gate.set()  # the store answers: the abandoned reads end, threads free
    deadline = time.monotonic() + 5
    while reader._slots._value < 2 and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.01)
    assert reader.read(["C1"])[0].customer_id == "C1"
    reader.close()


class SelfTimedReader(FakeReader):
    """A reader that says it gives up by itself after ``self_timeout_s``."""

    def __init__(self, self_timeout_s: float) -> None:
        super().__init__()
        self.self_timeout_s = self_timeout_s
        self.threads: list[int] = []

    def read(self, customer_ids: Sequence[str]) -> list[CustomerFeatures]:
        self.threads.append(threading.get_ident())
        return super().read(customer_ids)


def test_a_reader_bounded_within_the_budget_runs_on_the_calling_thread() -> None:
    inner = SelfTimedReader(0.02)  # the guard's budget is 50 ms
    reader = guarded(inner, threshold=2)
    assert reader.read(["C1"])[0].customer_id == "C1"
    assert inner.threads == [threading.get_ident()]
    inner.error = FeatureReadError("feature_timeout", "socket timeout")
    assert [reason_of(reader), reason_of(reader)] == ["feature_timeout"] * 2
    assert reason_of(reader) == "circuit_open"  # its own timeouts still feed the breaker
    assert inner.calls == 3
    reader.close()


def test_a_reader_bounded_beyond_the_budget_still_runs_on_the_pool() -> None:
    inner = SelfTimedReader(0.5)
    reader = guarded(inner)
    reader.read(["C1"])
    assert inner.threads and inner.threads[0] != threading.get_ident()
    reader.close()


def test_garbage_is_a_decode_error_not_a_store_failure(caplog: pytest.LogCaptureFixture) -> None:
    from google.protobuf.message import DecodeError

    inner = FakeReader()
    inner.error = DecodeError("Wire format was corrupt")
    reader = guarded(inner)
    with caplog.at_level(logging.WARNING, logger="server.features.guard"):
        assert {reason_of(reader) for _ in range(10)} == {"feature_decode_error"}
    assert reader.breaker.state is BreakerState.CLOSED and inner.calls == 10
    assert [r.getMessage() for r in caplog.records] == [
        "undecodable online features: answering degraded"  # once, not per request
    ]


def test_stale_cache_serves_last_known_features_flagged() -> None:
    inner = FakeReader({"C1": {**PROFILE, **SUPPORT}})
    clock = FakeClock()
    cache = ProfileCache(ttl_s=30.0, max_size=2, clock=clock)
    reader = guarded(inner, cache=cache, threshold=100)
    reader.read(["C1", "C2"])
    assert len(cache) == 1  # only customers that were found
    inner.error = FeatureReadError("feature_timeout", "slow")
    c1, c2 = reader.read(["C1", "C2"])
    assert c1.found and c1.values["plan_tier"] == "premium"
    assert c1.degraded_reasons == ("feature_timeout", "stale_features")  # type: ignore[attr-defined]
    assert not c2.found and c2.degraded_reasons == ("feature_timeout",)  # type: ignore[attr-defined]
    assert reason_of(reader, ["C2"]) == "feature_timeout"  # nothing cached: plain failure
    clock.now += 30.1
    assert reason_of(reader, ["C1"]) == "feature_timeout"  # expired: not served
    inner.error, inner.rows = None, {}
    cache.update([features("C1", PROFILE)])
    reader.read(["C1"])  # the customer is gone from the store: gone from the cache
    assert len(cache) == 0
    cache.update([features(c, PROFILE) for c in ("A", "B", "C")])
    assert set(cache.get_many(["A", "B", "C"])) == {"B", "C"}  # LRU bound


def test_engine_answers_from_the_stale_cache(model_dir: Path) -> None:
    inner = FakeReader({"C1": {**PROFILE, **SUPPORT}})
    reader = guarded(inner, cache=ProfileCache(30.0, 100))
    engine = DecisionEngine(ModelRunner.load(model_dir), reader)
    fresh = engine.decide(turn("C1"))
    assert fresh.personalized and not fresh.degraded_reasons
    inner.error = down()
    before = REGISTRY.get_sample_value(
        "personalization_degraded_total", {"reason": "stale_features"}
    )
    stale, unknown = engine.decide_batch([turn("C1"), turn("C9")])
    assert stale.personalized and stale.style.language == "fr"  # the cached profile
    assert stale.degraded_reasons == ("feature_store_unavailable", "stale_features")
    assert not unknown.personalized and unknown.not_personalized_reason == "features_unavailable"
    assert unknown.degraded_reasons == ("feature_store_unavailable",)
    after = REGISTRY.get_sample_value(
        "personalization_degraded_total", {"reason": "stale_features"}
    )
    assert after == (before or 0) + 1
    engine.close()


def test_ready_does_not_follow_the_store_after_startup() -> None:
    inner = FakeReader()
    inner.up = False
    reader = guarded(inner)
    assert not reader.ping()  # never up yet: not ready
    inner.up = True
    assert reader.ping()
    inner.up = False
    assert reader.ping()  # an outage degrades answers, it does not unready the server


def test_metrics_endpoint_serves_counters_on_loopback() -> None:
    port = free_port()
    stop = metrics.start_http(port)
    assert stop is not None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            body = reply.read().decode()
        assert "personalization_decisions_total" in body
        assert "personalization_feature_breaker_state" in body
    finally:
        stop()
    assert metrics.start_http(0) is None


# ---- a real Redis: slow, or holding garbage ------------------------------------------


def redis_settings(fx: FeastFixture, models: Path, address: str, **extra: Any) -> Settings:
    return test_settings(
        feature_repo=fx.repo, models_dir=models, online_store="redis", redis=address, **extra
    )


@pytest.mark.redis
def test_slow_redis_answers_degraded_within_budget_then_recovers(
    engine_feast_repo: FeastFixture, engine_redis: RedisServer, model_dir: Path, tmp_path: Path
) -> None:
    with private_redis(tmp_path, engine_redis) as store:
        proxy = DelayProxy(store.port)
        settings = redis_settings(
            engine_feast_repo,
            model_dir,
            proxy.address,
            breaker_failure_threshold=3,
            breaker_open_s=0.3,
        )
        engine = build_engine(settings)
        try:
            customer = engine_feast_repo.known_ids[1]
            assert not engine.decide(turn(customer)).degraded_reasons
            proxy.delay_s = 0.25  # every reply arrives long after the 20 ms budget
            reasons, took = [], []
            for _ in range(10):
                started = time.monotonic()
                reasons.append(engine.decide(turn(customer)).degraded_reasons)
                took.append(time.monotonic() - started)
            assert reasons == [("feature_timeout",)] * 3 + [("circuit_open",)] * 7
            assert max(took) < 0.2  # 20 ms budget: nobody waited 250 ms for Redis
            proxy.delay_s = 0.0
            deadline = time.monotonic() + 5
            while engine.decide(turn(customer)).degraded_reasons:
                assert time.monotonic() < deadline, "never recovered"
                time.sleep(0.05)
        finally:
            engine.close()
            proxy.close()


@pytest.mark.redis
def test_garbage_in_redis_answers_ok_degraded(
    engine_feast_repo: FeastFixture, engine_redis: RedisServer, model_dir: Path, tmp_path: Path
) -> None:
    with private_redis(tmp_path, engine_redis) as store:
        settings = redis_settings(engine_feast_repo, model_dir, store.address)
        server, port = create_server(settings)
        reader = server.engine._reader  # type: ignore[attr-defined]
        bad, good = engine_feast_repo.known_ids[1], engine_feast_repo.known_ids[2]
        client = redis.Redis(port=store.port)
        key = reader.inner.key(bad)
        fields: list[bytes] = client.hkeys(key)  # type: ignore[assignment]
        client.hset(key, mapping={f: b"\xff\xfegarbage" for f in fields})
        client.close()
        server.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = pb_grpc.PersonalizationServiceStub(channel)
        try:
            for _ in range(10):  # more than the breaker threshold
                r = stub.Decide(make_request(bad), timeout=5)
                assert r.degraded and list(r.degraded_reasons) == ["feature_decode_error"]
            r = stub.Decide(make_request(good), timeout=5)
            assert not r.degraded
            # In one batch the garbage costs only its own customer the personalization.
            batch = stub.DecideBatch(
                pb.DecideBatchRequest(requests=[make_request(bad), make_request(good)]), timeout=5
            )
            assert [list(x.degraded_reasons) for x in batch.responses] == [
                ["feature_decode_error"],
                [],
            ]
            assert batch.responses[1].personalized == r.personalized
            assert reader.breaker.state is BreakerState.CLOSED
        finally:
            channel.close()
            shutdown(server, 1.0)
