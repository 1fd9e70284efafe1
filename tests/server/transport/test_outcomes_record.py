"""RecordOutcome and RecordOutcomeBatch over a real channel: rows as sent, duplicates,
validation, batches, malformed bytes, a full outcome log and an engine not ready."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from modelio.logrecords import OUTCOME_SCHEMA, OUTCOMES
from personalization.v1 import personalization_pb2 as pb
from tests.server.transport.conftest import OutcomeServer, Start
from tests.support.outcomes import SERVICE, make_outcome, rpc_error, ts
from tests.support.record_logs import MemoryLog
from tests.support.servers import EVENT_TIME, Code, make_request


def test_outcome_is_recorded_as_sent(outcome_server: OutcomeServer) -> None:
    before = datetime.now(UTC)
    reply = outcome_server.stub.RecordOutcome(make_outcome(escalated=True), timeout=5)
    after = datetime.now(UTC)
    assert (reply.recorded, reply.duplicate, reply.request_id) == (True, False, "req-o1")
    (row,) = outcome_server.log.of(OUTCOMES)
    assert list(row) == OUTCOME_SCHEMA.names
    received_at = row.pop("received_at")
    assert before <= received_at <= after and received_at.tzinfo is UTC
    assert row == {
        "decision_id": "d-C000123-3",
        "event_time": EVENT_TIME,
        "resolved": True,
        "escalated": True,
        "csat": 4,
        "principal": "",  # auth off
        "conversation_id": "",
    }
    assert row["event_time"].tzinfo is UTC
    no_score = outcome_server.stub.RecordOutcome(make_outcome("d-2", csat=None), timeout=5)
    assert no_score.recorded and outcome_server.log.of(OUTCOMES)[-1]["csat"] is None


def test_repeat_is_duplicate_and_both_rows_are_stored(outcome_server: OutcomeServer) -> None:
    first = outcome_server.stub.RecordOutcome(make_outcome(), timeout=5)
    again = outcome_server.stub.RecordOutcome(make_outcome(), timeout=5)
    assert (first.recorded, first.duplicate) == (True, False)
    assert (again.recorded, again.duplicate) == (True, True)
    rows = outcome_server.log.of(OUTCOMES)
    assert len(rows) == 2  # the feedback join counts them once
    assert {r["decision_id"] for r in rows} == {"d-C000123-3"}


def test_unknown_decision_id_is_accepted_and_stored(outcome_server: OutcomeServer) -> None:
    reply = outcome_server.stub.RecordOutcome(make_outcome("d-never-issued"), timeout=5)
    assert reply.recorded and not reply.duplicate
    assert [r["decision_id"] for r in outcome_server.log.of(OUTCOMES)] == ["d-never-issued"]


_FUTURE = datetime.now(UTC) + timedelta(hours=1)


@pytest.mark.parametrize(
    ("request_", "details"),
    [
        (make_outcome(""), "decision_id: must not be empty"),
        (make_outcome("d" * 129), "decision_id: must be at most 128 characters"),
        (make_outcome("d-1\n"), "decision_id: must not contain control characters"),
        (make_outcome(csat=0), "csat: must be within [1, 5] when set, got 0"),
        (make_outcome(csat=6), "csat: must be within [1, 5] when set, got 6"),
        (make_outcome(csat=-1), "csat: must be within [1, 5]"),
        (make_outcome(event_time=None), "event_time: is required"),
        (make_outcome(event_time=ts(_FUTURE)), "event_time: must not be more than 300 s in"),
        (make_outcome(event_time=Timestamp(seconds=0)), "event_time: must not be before"),
        (make_outcome(event_time=Timestamp(seconds=10**12)), "event_time: is not a valid"),
        (make_outcome(request_id="r" * 129), "request_id: must be at most 128 characters"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_invalid_outcome_is_invalid_argument_naming_the_field(
    outcome_server: OutcomeServer, request_: pb.RecordOutcomeRequest, details: str
) -> None:
    error = rpc_error(outcome_server.stub.RecordOutcome, request_)
    assert error.code() is Code.INVALID_ARGUMENT
    assert (error.details() or "").startswith(details)
    assert outcome_server.log.of(OUTCOMES) == []


def test_event_time_within_clock_skew_is_accepted(outcome_server: OutcomeServer) -> None:
    soon = datetime.now(UTC) + timedelta(minutes=4)
    assert outcome_server.stub.RecordOutcome(make_outcome(event_time=ts(soon)), timeout=5).recorded


def test_batch_records_all_in_order(outcome_server: OutcomeServer) -> None:
    batch = pb.RecordOutcomeBatchRequest(
        outcomes=[
            make_outcome("d-1", request_id="a"),
            make_outcome("d-2", csat=None, request_id="b"),
            make_outcome("d-1", request_id="c"),
        ]
    )
    reply = outcome_server.stub.RecordOutcomeBatch(batch, timeout=5)
    assert [(r.recorded, r.duplicate, r.request_id) for r in reply.responses] == [
        (True, False, "a"),
        (True, False, "b"),
        (True, True, "c"),
    ]
    assert [r["decision_id"] for r in outcome_server.log.of(OUTCOMES)] == ["d-1", "d-2", "d-1"]
    assert outcome_server.log.submits == 1
    empty = outcome_server.stub.RecordOutcomeBatch(pb.RecordOutcomeBatchRequest(), timeout=5)
    assert list(empty.responses) == [] and outcome_server.log.submits == 1


def test_batch_with_an_invalid_outcome_is_refused_whole(outcome_server: OutcomeServer) -> None:
    batch = pb.RecordOutcomeBatchRequest(
        outcomes=[
            make_outcome("d-1"),
            make_outcome("d-2"),
            make_outcome("d-3"),
            make_outcome(csat=9),
        ]
    )
    error = rpc_error(outcome_server.stub.RecordOutcomeBatch, batch)
    assert error.code() is Code.INVALID_ARGUMENT
    assert (error.details() or "").startswith("outcomes[3].csat: must be within [1, 5]")
    missing = pb.RecordOutcomeBatchRequest(outcomes=[make_outcome(), make_outcome("")])
    error = rpc_error(outcome_server.stub.RecordOutcomeBatch, missing)
    assert error.details() == "outcomes[1].decision_id: must not be empty"
    assert outcome_server.log.of(OUTCOMES) == []


def test_oversize_batch_is_invalid_argument(start_outcome_server: Start) -> None:
    server = start_outcome_server(max_batch_size=3)
    batch = pb.RecordOutcomeBatchRequest(outcomes=[make_outcome(f"d-{i}") for i in range(4)])
    error = rpc_error(server.stub.RecordOutcomeBatch, batch)
    assert error.code() is Code.INVALID_ARGUMENT
    assert error.details() == "outcomes: at most 3 outcomes per batch, got 4"
    assert server.log.of(OUTCOMES) == []
    ok = pb.RecordOutcomeBatchRequest(outcomes=[make_outcome(f"d-{i}") for i in range(3)])
    assert len(server.stub.RecordOutcomeBatch(ok, timeout=5).responses) == 3


def test_malformed_bytes_are_invalid_argument(outcome_server: OutcomeServer) -> None:
    for method, name in (
        ("RecordOutcome", "RecordOutcomeRequest"),
        ("RecordOutcomeBatch", "RecordOutcomeBatchRequest"),
    ):
        raw = outcome_server.run.channel.unary_unary(f"{SERVICE}/{method}")
        error = rpc_error(raw, b"\xff\xff")
        assert error.code() is Code.INVALID_ARGUMENT
        assert error.details() == f"request: is not a valid personalization.v1.{name} message"


def test_full_outcome_log_is_unavailable_and_retry_is_not_a_duplicate(
    start_outcome_server: Start,
) -> None:
    server = start_outcome_server(MemoryLog(full=True))
    for call, request in (
        (server.stub.RecordOutcome, make_outcome()),
        (server.stub.RecordOutcomeBatch, pb.RecordOutcomeBatchRequest(outcomes=[make_outcome()])),
    ):
        error = rpc_error(call, request)
        assert error.code() is Code.UNAVAILABLE
        assert error.details() == "outcomes log full"
    server.log.full = False
    reply = server.stub.RecordOutcome(make_outcome(), timeout=5)
    assert reply.recorded and not reply.duplicate


def test_outcomes_are_taken_while_the_engine_is_not_ready(start_outcome_server: Start) -> None:
    server = start_outcome_server()
    server.run.engine.is_ready = False
    assert server.stub.RecordOutcome(make_outcome(), timeout=5).recorded
    error = rpc_error(server.stub.Decide, make_request())
    assert error.code() is Code.UNAVAILABLE
