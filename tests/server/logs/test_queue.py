"""QueuedRecordLog: batching and order, flush/close, a full queue in drop and refuse
mode (metrics and log lines), sink failures retried then counted."""

from __future__ import annotations

import logging
import time

import pytest

from server.errors import RecordLogFullError
from server.logs.queue import QueuedRecordLog
from tests.support.record_sinks import FailingSink, GateSink, RecordingSink, log_count


def _rows(kind: str, start: int, n: int) -> list[dict[str, int | str]]:
    return [{"kind": kind, "i": i} for i in range(start, start + n)]


def test_rows_are_written_in_batches_in_order() -> None:
    sink = RecordingSink()
    log = QueuedRecordLog(sink, batch_max=10, flush_s=60)  # only size and flush() write
    for start in range(0, 95, 5):
        log.submit("q-order", _rows("q-order", start, 5))
    assert log.flush(10)
    assert [r["i"] for r in sink.rows("q-order")] == list(range(95))
    assert all(len(batch) <= 10 for _, batch in sink.batches)
    assert len(sink.batches) >= 10
    log.close(10)
    assert sink.closed


def test_kinds_are_written_separately() -> None:
    sink = RecordingSink()
    log = QueuedRecordLog(sink, batch_max=100, flush_s=60)
    log.submit("q-a", _rows("q-a", 0, 3))
    log.submit("q-b", _rows("q-b", 0, 2))
    log.submit("q-a", _rows("q-a", 3, 1))
    assert log.flush(10)
    assert sorted((kind, len(rows)) for kind, rows in sink.batches) == [("q-a", 4), ("q-b", 2)]
    log.close(10)


def test_rows_are_written_every_flush_interval_without_flush() -> None:
    sink = RecordingSink()
    log = QueuedRecordLog(sink, batch_max=1000, flush_s=0.05)
    try:
        log.submit("q-timer", _rows("q-timer", 0, 3))
        deadline = time.monotonic() + 10
        while not sink.batches and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sink.rows("q-timer") == _rows("q-timer", 0, 3)
    finally:
        log.close(10)


def test_flush_times_out_while_the_sink_is_stuck_and_close_writes_everything() -> None:
    sink = GateSink()
    log = QueuedRecordLog(sink, batch_max=5, flush_s=60)
    log.submit("q-close", _rows("q-close", 0, 5))
    assert sink.entered.acquire(timeout=10)  # the writer holds the first batch
    log.submit("q-close", _rows("q-close", 5, 3))
    assert not log.flush(0.05)
    sink.gate.set()
    log.close(10)
    assert [r["i"] for r in sink.rows("q-close")] == list(range(8))
    assert sink.closed
    assert log_count("q-close", "logged") == 8
    # After close nothing is queued any more, but nothing vanishes either: it is counted.
    log.submit("q-close", _rows("q-close", 8, 2))
    assert log_count("q-close", "dropped") == 2


def test_full_queue_in_drop_mode_counts_exactly_the_dropped_rows(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = GateSink()
    log = QueuedRecordLog(sink, queue_size=10, batch_max=5, flush_s=60, when_full="drop")
    kind = "q-drop"
    log.submit(kind, _rows(kind, 0, 5))
    assert sink.entered.acquire(timeout=10)  # writer busy with rows 0-4; queue empty
    with caplog.at_level(logging.WARNING, logger="server.logs.queue"):
        log.submit(kind, _rows(kind, 5, 6))
        log.submit(kind, _rows(kind, 11, 4))  # the queue now holds 10: full
        log.submit(kind, _rows(kind, 15, 3))  # dropped
        log.submit(kind, _rows(kind, 18, 1))  # dropped (the warning is rate-limited)
    assert log_count(kind, "dropped") == 4
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "full" in warnings[0].getMessage()
    assert warnings[0].rows == {f"dropped:{kind}": 3}  # type: ignore[attr-defined]
    sink.gate.set()
    with caplog.at_level(logging.WARNING, logger="server.logs.queue"):
        log.close(10)
    # close() reports what the rate limit held back.
    assert caplog.records[-1].rows == {f"dropped:{kind}": 1}  # type: ignore[attr-defined]
    assert [r["i"] for r in sink.rows(kind)] == list(range(15))
    assert log_count(kind, "logged") == 15
    assert log_count(kind, "failed") == 0


def test_full_queue_in_refuse_mode_raises_and_drops_nothing() -> None:
    sink = GateSink()
    log = QueuedRecordLog(sink, queue_size=4, batch_max=2, flush_s=60, when_full="refuse")
    kind = "q-refuse"
    log.submit(kind, _rows(kind, 0, 2))
    assert sink.entered.acquire(timeout=10)
    log.submit(kind, _rows(kind, 2, 4))  # queue full
    with pytest.raises(RecordLogFullError):
        log.submit(kind, _rows(kind, 6, 1))
    assert log_count(kind, "dropped") == 0
    sink.gate.set()
    assert log.flush(10)
    log.submit(kind, _rows(kind, 6, 1))  # room again
    log.close(10)
    assert [r["i"] for r in sink.rows(kind)] == list(range(7))


def test_failed_writes_are_retried_then_succeed() -> None:
    sink = FailingSink(failures=2)
    log = QueuedRecordLog(sink, batch_max=100, flush_s=60, retries=3, retry_backoff_s=0.001)
    log.submit("q-retry", _rows("q-retry", 0, 4))
    assert log.flush(10)
    log.close(10)
    assert sink.attempts == 3
    assert sink.rows("q-retry") == _rows("q-retry", 0, 4)  # once, not three times
    assert (log_count("q-retry", "logged"), log_count("q-retry", "failed")) == (4, 0)


def test_write_failing_every_retry_counts_the_rows_as_failed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = FailingSink(failures=10**6)
    log = QueuedRecordLog(sink, batch_max=100, flush_s=60, retries=2, retry_backoff_s=0.001)
    with caplog.at_level(logging.WARNING, logger="server.logs.queue"):
        log.submit("q-fail", _rows("q-fail", 0, 4))
        assert log.flush(10)  # written or counted: flush does not hang on a dead sink
    log.close(10)
    assert sink.attempts == 3
    assert (log_count("q-fail", "logged"), log_count("q-fail", "failed")) == (0, 4)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None


def test_close_timeout_counts_rows_still_queued_as_failed() -> None:
    sink = GateSink()
    log = QueuedRecordLog(sink, batch_max=2, flush_s=60)
    log.submit("q-late", _rows("q-late", 0, 2))
    assert sink.entered.acquire(timeout=10)
    log.submit("q-late", _rows("q-late", 2, 3))
    log.close(0.05)  # the writer is stuck in the first batch
    assert log_count("q-late", "failed") == 3
    sink.gate.set()
