"""RecordOutcome around the transport: which outcome log the server uses (and closes),
roles (feedback records, decide decides), keys for feedback, and audit lines per outcome."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest

from modelio.logrecords import OUTCOMES
from personalization.v1 import personalization_pb2 as pb
from server.app import create_server, outcome_log, shutdown
from server.logs.base import NullLog
from server.security.keys import KeyRecord, generate_key, hash_key, write_key_file
from server.security.keys_cli import main as keys_main
from server.security.policy import ADMIN, DECIDE, FEEDBACK
from tests.server.transport.conftest import Start
from tests.support.outcomes import SERVICE, make_outcome, rpc_error
from tests.support.record_logs import MemoryLog
from tests.support.servers import Code, FakeEngine, make_request, test_settings


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
