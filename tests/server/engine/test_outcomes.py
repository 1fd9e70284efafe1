"""OutcomeRecorder: outcome rows in OUTCOME_SCHEMA, the bounded duplicate memory, refusal."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from modelio.logrecords import OUTCOME_SCHEMA, OUTCOMES, table
from server.engine.outcomes import OutcomeRecorder, RecentIds
from server.engine.types import Outcome, OutcomeReceipt
from server.errors import RecordLogFullError
from tests.support.record_logs import MemoryLog

NOW = datetime(2024, 5, 6, 15, 0, tzinfo=UTC)
EVENT = datetime(2024, 5, 6, 14, 45, tzinfo=UTC)


def outcome(decision_id: str = "d-1", csat: int | None = 4, request_id: str = "") -> Outcome:
    return Outcome(decision_id, True, False, csat, EVENT, request_id)


def test_rows_follow_the_outcome_schema() -> None:
    log = MemoryLog()
    recorder = OutcomeRecorder(log, clock=lambda: NOW)
    receipts = recorder.record([outcome(request_id="r1"), outcome("d-2", csat=None)], "bot")
    assert receipts == [OutcomeReceipt("d-1", "r1", False), OutcomeReceipt("d-2", "", False)]
    rows = log.of(OUTCOMES)
    assert [list(r) for r in rows] == [OUTCOME_SCHEMA.names] * 2
    assert rows[0] == {
        "decision_id": "d-1",
        "received_at": NOW,
        "event_time": EVENT,
        "resolved": True,
        "escalated": False,
        "csat": 4,
        "principal": "bot",
        "conversation_id": "",
    }
    assert rows[1]["csat"] is None
    assert table(OUTCOMES, rows).num_rows == 2  # the rows fit the Arrow schema
    assert log.submits == 1  # one submit per call


def test_repeats_are_duplicates_and_still_stored() -> None:
    log = MemoryLog()
    recorder = OutcomeRecorder(log)
    assert [r.duplicate for r in recorder.record([outcome(), outcome()])] == [False, True]
    assert [r.duplicate for r in recorder.record([outcome(), outcome("d-2")])] == [True, False]
    assert len(log.of(OUTCOMES)) == 4
    assert recorder.record([]) == [] and log.submits == 2


def test_recent_ids_are_bounded_oldest_first() -> None:
    ids = RecentIds(3)
    with ids.lock:
        assert [ids.add(x) for x in "abcd"] == [False] * 4
        assert "a" not in ids and len(ids) == 3
        assert ids.add("b") is True  # refreshed: now the newest
        ids.add("e")
    assert "c" not in ids and "b" in ids
    recorder = OutcomeRecorder(MemoryLog(), recent_ids=2)
    for d in ("d-1", "d-2", "d-3"):
        recorder.record([outcome(d)])
    assert recorder.record([outcome("d-1")])[0].duplicate is False  # forgotten
    with pytest.raises(ValueError):
        RecentIds(0)


def test_refused_outcomes_are_not_remembered() -> None:
    log = MemoryLog(full=True)
    recorder = OutcomeRecorder(log)
    with pytest.raises(RecordLogFullError):
        recorder.record([outcome()])
    log.full = False
    assert recorder.record([outcome()])[0].duplicate is False  # the retry is not a repeat
    assert len(log.of(OUTCOMES)) == 1


def test_concurrent_repeats_get_one_first() -> None:
    log = MemoryLog()
    recorder = OutcomeRecorder(log)
    flags: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def work() -> None:
        start.wait()
        for _ in range(50):
            (receipt,) = recorder.record([outcome("d-same")])
            with lock:
                flags.append(receipt.duplicate)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert flags.count(False) == 1 and len(flags) == 400
    assert len(log.of(OUTCOMES)) == 400
