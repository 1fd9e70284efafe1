"""RecordOutcome and RecordOutcomeBatch over a real channel: rows, duplicates,
validation, roles, audit lines and a full outcome log."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from modelio.logrecords import OUTCOME_SCHEMA, OUTCOMES
from personalization.v1 import personalization_pb2 as pb
from server.app import create_server, outcome_log, shutdown
from server.logs.base import NullLog
from server.security.keys import KeyRecord, generate_key, hash_key, write_key_file
from server.security.keys_cli import main as keys_main
from server.security.policy import ADMIN, DECIDE, FEEDBACK
from tests.server.transport.conftest import OutcomeServer
from tests.support.record_logs import MemoryLog
from tests.support.servers import EVENT_TIME, FakeEngine, make_request, test_settings

Code = grpc.StatusCode
SERVICE = "/personalization.v1.PersonalizationService"
Start = Callable[..., OutcomeServer]


def ts(value: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(value)
    return out


def make_outcome(decision_id: str = "d-C000123-3", **fields: Any) -> pb.RecordOutcomeRequest:
    """A valid outcome; keyword arguments override fields (``event_time=None`` unsets it)."""
    values: dict[str, Any] = {
        "resolved": True,
        "escalated": False,
        "csat": 4,
        "event_time": ts(EVENT_TIME),
        "request_id": "req-o1",
    }
    values.update(fields)
    values = {k: v for k, v in values.items() if v is not None}
    return pb.RecordOutcomeRequest(decision_id=decision_id, **values)


def rpc_error(call: Callable[..., Any], *args: Any, **kwargs: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as error:
        call(*args, timeout=5, **kwargs)
    return error.value


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


# --- where outcomes go ------------------------------------------------------------------


class LoggingEngine(FakeEngine):
    def __init__(self, log: MemoryLog) -> None:
        super().__init__()
        self._log = log

    @property
    def record_log(self) -> MemoryLog:
        return self._log


def test_outcome_log_defaults_to_the_engines_then_null() -> None:
    engine_log, given = MemoryLog(), MemoryLog()
    assert outcome_log(LoggingEngine(engine_log), None) is engine_log
    assert outcome_log(LoggingEngine(engine_log), given) is given
    assert isinstance(outcome_log(FakeEngine(), None), NullLog)


def test_engine_log_is_used_and_only_a_given_log_is_closed_by_shutdown() -> None:
    engine_log = MemoryLog()
    server, port = create_server(test_settings(), engine=LoggingEngine(engine_log))
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        raw = channel.unary_unary(
            f"{SERVICE}/RecordOutcome",
            request_serializer=pb.RecordOutcomeRequest.SerializeToString,
            response_deserializer=pb.RecordOutcomeResponse.FromString,
        )
        assert raw(make_outcome(), timeout=5).recorded
    shutdown(server, 1.0)
    assert len(engine_log.of(OUTCOMES)) == 1 and not engine_log.closed  # the engine's to close

    given = MemoryLog()
    server, _ = create_server(test_settings(), engine=FakeEngine(), record_log=given)
    server.start()
    shutdown(server, 1.0)
    assert given.closed


# --- roles -------------------------------------------------------------------------------


def _keys(path: Path) -> dict[str, str]:
    keys = {role: generate_key() for role in (DECIDE, FEEDBACK, ADMIN)}
    write_key_file(
        path, [KeyRecord(f"{role}-key", hash_key(k), frozenset({role})) for role, k in keys.items()]
    )
    return keys


def _md(key: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {key}")]


def test_roles_feedback_records_decide_decides(tmp_path: Path, start_outcome_server: Start) -> None:
    keys = _keys(tmp_path / "keys.json")
    server = start_outcome_server(api_keys_file=tmp_path / "keys.json")
    stub = server.stub
    batch = pb.RecordOutcomeBatchRequest(outcomes=[make_outcome("d-b")])

    assert stub.RecordOutcome(make_outcome(), timeout=5, metadata=_md(keys[FEEDBACK])).recorded
    assert stub.RecordOutcomeBatch(batch, timeout=5, metadata=_md(keys[FEEDBACK])).responses
    assert [r["principal"] for r in server.log.of(OUTCOMES)] == ["feedback-key", "feedback-key"]
    assert stub.Decide(make_request(), timeout=5, metadata=_md(keys[DECIDE])).decision_id

    refused = [
        (stub.Decide, make_request(), FEEDBACK),
        (stub.DecideBatch, pb.DecideBatchRequest(requests=[make_request()]), FEEDBACK),
        (stub.RecordOutcome, make_outcome(), DECIDE),
        (stub.RecordOutcomeBatch, batch, DECIDE),
        (stub.RecordOutcome, make_outcome(), ADMIN),
    ]
    for call, request, role in refused:
        error = rpc_error(call, request, metadata=_md(keys[role]))
        assert error.code() is Code.PERMISSION_DENIED, (call, role)
    assert rpc_error(stub.RecordOutcome, make_outcome()).code() is Code.UNAUTHENTICATED
    assert len(server.log.of(OUTCOMES)) == 2


def test_keys_cli_makes_feedback_keys(
    tmp_path: Path, start_outcome_server: Start, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys.json"
    assert keys_main(["new", "--id", "backfill", "--role", "feedback", "--file", str(path)]) == 0
    key = capsys.readouterr().out.strip()
    assert keys_main(["list", "--file", str(path)]) == 0
    assert capsys.readouterr().out == "backfill\tfeedback\n"
    server = start_outcome_server(api_keys_file=path)
    assert server.stub.RecordOutcome(make_outcome(), timeout=5, metadata=_md(key)).recorded
    assert server.log.of(OUTCOMES)[0]["principal"] == "backfill"


# --- audit -------------------------------------------------------------------------------


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("hashed", [False, True])
def test_audit_line_per_outcome(tmp_path: Path, start_outcome_server: Start, hashed: bool) -> None:
    keys = _keys(tmp_path / "keys.json")
    audit = tmp_path / "audit.jsonl"
    hashing: dict[str, Any] = (
        {"audit_hash_customer_ids": True, "audit_hmac_key": "audit-secret-0123456789"}
        if hashed
        else {}
    )
    server = start_outcome_server(
        api_keys_file=tmp_path / "keys.json", audit_log_path=audit, **hashing
    )
    md = _md(keys[FEEDBACK])
    server.stub.RecordOutcome(make_outcome("d-1"), timeout=5, metadata=md)
    batch = pb.RecordOutcomeBatchRequest(
        outcomes=[make_outcome("d-2", request_id="b1"), make_outcome("d-3", request_id="b2")]
    )
    server.stub.RecordOutcomeBatch(batch, timeout=5, metadata=md)
    rpc_error(server.stub.RecordOutcome, make_outcome("d-4", csat=7), metadata=md)
    rpc_error(server.stub.RecordOutcome, make_outcome("d-5"), metadata=_md(keys[DECIDE]))

    lines = _lines(audit)
    assert {tuple(line) for line in lines} == {
        ("ts", "principal", "rpc", "decision_id", "request_id", "status")
    }
    assert [
        (x["principal"], x["rpc"], x["decision_id"], x["request_id"], x["status"]) for x in lines
    ] == [
        ("feedback-key", f"{SERVICE}/RecordOutcome", "d-1", "req-o1", "OK"),
        ("feedback-key", f"{SERVICE}/RecordOutcomeBatch", "d-2", "b1", "OK"),
        ("feedback-key", f"{SERVICE}/RecordOutcomeBatch", "d-3", "b2", "OK"),
        ("feedback-key", f"{SERVICE}/RecordOutcome", "d-4", "req-o1", "INVALID_ARGUMENT"),
    ]  # the decide key's call was refused before the audit: access log only


def test_full_outcome_log_is_audited_unavailable(
    tmp_path: Path, start_outcome_server: Start
) -> None:
    audit = tmp_path / "audit.jsonl"
    server = start_outcome_server(MemoryLog(full=True), audit_log_path=audit)
    rpc_error(server.stub.RecordOutcome, make_outcome("d-1"))
    (line,) = _lines(audit)
    assert (line["principal"], line["decision_id"], line["status"]) == (None, "d-1", "UNAVAILABLE")
