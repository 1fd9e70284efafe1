"""End to end on a real redis-server: a consent withdrawal published as an event makes
the next Decide (real server, real engine) for that customer unpersonalized."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import grpc
import pytest

from personalization.v1 import personalization_pb2_grpc as pb_grpc
from server.app import create_server
from server.events.publish import publish
from tests.server.events.conftest import World
from tests.support.events import consumer_env, make_event, start_consumer, wait_until
from tests.support.servers import make_request, test_settings

pytestmark = [pytest.mark.redis, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]
CUSTOMER = "C0000001"  # consent given, profile present


def test_consent_withdrawal_makes_the_next_decide_unpersonalized(
    world: World, model_dir: Path, tmp_path: Path
) -> None:
    settings = test_settings(
        feature_repo=world.fixture.repo,
        models_dir=model_dir,
        online_store="redis",
        redis=world.redis.address,
        feature_budget_ms=2000.0,  # a loaded machine must not turn answers degraded
        log_level="ERROR",
    )
    server, port = create_server(settings)
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = pb_grpc.PersonalizationServiceStub(channel)
    consumer = start_consumer(
        consumer_env(world.repo, world.redis.address), ROOT, tmp_path / "consumer.log"
    )
    stream = world.settings().events_stream
    try:
        first = stub.Decide(make_request(CUSTOMER), timeout=10)
        assert first.personalized and first.not_personalized_reason == ""
        # The consumer is up once a first event is visible; then measure the withdrawal.
        publish(world.client, stream, make_event("csat_survey", CUSTOMER, score=5))
        wait_until(lambda: world.features(CUSTOMER)["last_csat"] == 5.0, timeout=60)

        sent = time.monotonic()
        publish(world.client, stream, make_event("consent_change", CUSTOMER))
        reply = wait_until(
            lambda: (
                (r := stub.Decide(make_request(CUSTOMER), timeout=10)).personalized is False and r
            ),
            timeout=10,
            step=0.001,
        )
        took_ms = (time.monotonic() - sent) * 1000
        assert reply.not_personalized_reason == "no_consent"
        print(f"consent withdrawal -> unpersonalized Decide in {took_ms:.1f} ms")

        publish(
            world.client,
            stream,
            make_event("consent_change", CUSTOMER, personalization_consent=True),
        )
        wait_until(lambda: stub.Decide(make_request(CUSTOMER), timeout=10).personalized, timeout=10)
    finally:
        consumer.send_signal(signal.SIGTERM)
        assert consumer.wait(15) == 0, (tmp_path / "consumer.log").read_text()
        channel.close()
        server.stop(None).wait(10)
