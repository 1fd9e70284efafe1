"""Fixtures of this folder: ``running`` and ``start_server`` (defined once in tests/support),
and ``target``, the real server (real engine, loopback channel) the fuzz tests hit; module
scope, so each fuzz file gets its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from personalization.v1 import personalization_pb2_grpc as pb_grpc
from server.app import create_server
from tests.support.feast import FeastFixture
from tests.support.fuzz import (
    DECIDE,
    DECIDE_BATCH,
    MAX_BATCH,
    MAX_MESSAGE_BYTES,
    RECORD_OUTCOME,
    RECORD_OUTCOME_BATCH,
    Target,
)
from tests.support.servers import running, start_server, test_settings

__all__ = ["running", "start_server"]


@pytest.fixture(scope="module")
def target(engine_feast_repo: FeastFixture, model_dir: Path) -> Iterator[Target]:
    settings = test_settings(
        feature_repo=engine_feast_repo.repo,
        models_dir=model_dir,
        max_batch_size=MAX_BATCH,
        max_message_bytes=MAX_MESSAGE_BYTES,
        feature_budget_ms=5000.0,  # a slow CI box must not turn answers degraded
        thread_pool_size=8,
        log_level="ERROR",
    )
    server, port = create_server(settings)  # no engine given: the real one is built
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=10)
        yield Target(
            channel,
            pb_grpc.PersonalizationServiceStub(channel),
            channel.unary_unary(DECIDE),  # no serializers: bytes in, bytes out
            channel.unary_unary(DECIDE_BATCH),
            channel.unary_unary(RECORD_OUTCOME),
            channel.unary_unary(RECORD_OUTCOME_BATCH),
            engine_feast_repo.known_ids,
        )
    finally:
        channel.close()
        server.stop(None).wait(10)
