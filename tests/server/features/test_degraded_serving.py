"""Degraded mode while serving: the engine answers from the stale cache, readiness does not
follow the store, metrics on loopback, and a real Redis that is slow or holds undecodable
bytes."""

from __future__ import annotations

import time
import urllib.request
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
from server.features.breaker import BreakerState
from server.features.cache import ProfileCache
from server.models.runner import ModelRunner
from server.settings import Settings
from tests.support.chaos import DelayProxy, private_redis
from tests.support.engines import PROFILE, SUPPORT, turn
from tests.support.fake_features import FakeReader, down, guarded
from tests.support.feast import FeastFixture
from tests.support.redis_server import RedisServer, free_port
from tests.support.servers import make_request, test_settings


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
            # Healthy first (on a loaded machine one read may miss the 20 ms budget).
            deadline = time.monotonic() + 5
            while engine.decide(turn(customer)).degraded_reasons:
                assert time.monotonic() < deadline, "never answered personalized"
                time.sleep(0.05)
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
