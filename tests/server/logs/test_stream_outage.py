"""A Redis that stops answering (SIGSTOP) behind the stream sink: the queue fills, then
every further row is either refused or counted as dropped, and once Redis answers again
every queued row lands in the stream. Nothing is lost without a count."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
import redis

from modelio.logrecords import DECISIONS
from server.errors import RecordLogFullError
from server.logs.base import RecordLog
from server.logs.setup import build_record_log
from server.settings import Settings
from tests.support.record_sinks import decision_row, log_count
from tests.support.redis_server import RedisServer, start_redis

pytestmark = pytest.mark.redis

QUEUE = 20
SENT = 60


@pytest.fixture
def stoppable_redis(tmp_path: Path) -> Iterator[RedisServer]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = start_redis(workdir)
    yield server
    os.kill(server.process.pid, signal.SIGCONT)  # never leave it stopped
    server.stop()


def _log(server: RedisServer, prefix: str, when_full: Literal["drop", "refuse"]) -> RecordLog:
    settings = Settings(
        decision_log="redis",
        decision_log_redis=server.address,
        decision_log_stream_prefix=prefix,
        decision_log_queue_size=QUEUE,
        decision_log_batch_max=5,
        decision_log_flush_s=0.05,
        decision_log_when_full=when_full,
    )
    return build_record_log(settings)


def _stream_len(server: RedisServer, prefix: str) -> int:
    client = redis.Redis(host="127.0.0.1", port=server.port)
    try:
        return int(client.xlen(f"{prefix}:{DECISIONS}"))  # type: ignore[arg-type]
    finally:
        client.close()


@pytest.mark.parametrize("when_full", ["drop", "refuse"])
def test_a_stopped_redis_fills_the_queue_and_every_row_is_stored_or_counted(
    stoppable_redis: RedisServer, when_full: Literal["drop", "refuse"]
) -> None:
    prefix = f"t-outage-{when_full}"
    log = _log(stoppable_redis, prefix, when_full)
    log.submit(DECISIONS, [decision_row(i) for i in range(5)])
    assert log.flush(10) and _stream_len(stoppable_redis, prefix) == 5
    dropped, failed = log_count(DECISIONS, "dropped"), log_count(DECISIONS, "failed")
    os.kill(stoppable_redis.process.pid, signal.SIGSTOP)
    time.sleep(0.3)  # the writer is now stuck in its first write to the stopped server
    refused = 0
    for i in range(SENT):
        try:
            log.submit(DECISIONS, [decision_row(100 + i)])
        except RecordLogFullError:
            refused += 1
    not_queued = refused + int(log_count(DECISIONS, "dropped") - dropped)
    assert not_queued >= SENT - QUEUE - 5  # at most a full queue and one batch in flight
    assert (refused > 0) == (when_full == "refuse")
    os.kill(stoppable_redis.process.pid, signal.SIGCONT)
    log.close(20)
    assert log_count(DECISIONS, "failed") == failed  # the stall stayed under the timeout
    assert _stream_len(stoppable_redis, prefix) == 5 + SENT - not_queued
