"""The engine logs exactly one complete row per decision it answers (Decide, DecideBatch,
micro-batched Decides), over a real server; a full log in refuse mode fails the RPC."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest

from modelio.logrecords import DECISION_SCHEMA, DECISIONS, read_log, table
from modelio.vocab import ACTIONS
from personalization.v1 import personalization_pb2 as pb
from server.engine.decide import DecisionEngine
from server.engine.factory import build_engine
from server.logs.queue import QueuedRecordLog
from server.models.runner import ModelRunner
from tests.support.engines import (
    ENGAGEMENT,
    NOW_TS,
    PROFILE,
    SUPPORT,
    ScriptedReader,
    turn,
)
from tests.support.engines import features as customer
from tests.support.feast import FeastFixture
from tests.support.record_sinks import GateSink, RecordingSink
from tests.support.servers import Running, make_request, test_settings

KNOWN = {**PROFILE, **SUPPORT, **ENGAGEMENT}


@pytest.fixture(scope="module")
def runner(model_dir: Path) -> ModelRunner:
    return ModelRunner.load(model_dir)


def _engine(runner: ModelRunner, log: QueuedRecordLog, max_batch: int = 1) -> DecisionEngine:
    reader = ScriptedReader({"C1": customer("C1", KNOWN)})
    return DecisionEngine(runner, reader, clock=lambda: NOW_TS, max_batch=max_batch, log=log)


def _action(reply: pb.DecideResponse) -> str:
    return pb.Action.Name(reply.next_best_action.action).removeprefix("ACTION_").lower()


def _check_row(row: Mapping[str, Any], reply: pb.DecideResponse, engine: DecisionEngine) -> None:
    assert row["decision_id"] == reply.decision_id
    assert row["request_id"] == reply.request_id
    assert row["action"] == _action(reply) == ACTIONS[row["action_index"]]
    assert row["propensity"] == reply.next_best_action.propensity
    assert sum(row["probabilities"]) == pytest.approx(1.0)
    assert len(row["probabilities"]) == len(row["scores"]) == len(ACTIONS)
    assert row["probabilities"][row["action_index"]] == row["propensity"]
    assert row["scores"][row["action_index"]] == pytest.approx(
        reply.next_best_action.predicted_success
    )
    assert row["escalation_probability"] == pytest.approx(reply.escalation_risk.probability)
    assert row["segment_id"] == reply.segment.id
    assert (row["personalized"], row["degraded"]) == (reply.personalized, reply.degraded)
    assert len(row["inputs"]) == len(engine.bundle.inputs)
    assert row["model_version"] == engine.model_version
    assert row["time_zone"] == "Europe/Paris" and row["turn_index"] == 3
    if row["customer_id"] == "C1":
        assert json.loads(row["features"]) == KNOWN
    else:
        assert row["features"] == "{}"


@pytest.mark.parametrize("max_batch", [1, 8])
def test_every_answered_decision_has_exactly_one_row(
    runner: ModelRunner, start_server: Callable[..., Running], max_batch: int
) -> None:
    sink = RecordingSink()
    log = QueuedRecordLog(sink, flush_s=60)
    engine = _engine(runner, log, max_batch)
    run = start_server(engine)
    replies = [run.stub.Decide(make_request("C1"), timeout=10)]
    replies.append(run.stub.Decide(make_request("anon-7"), timeout=10))
    batch = pb.DecideBatchRequest(requests=[make_request(c) for c in ("C1", "anon-8", "C1")])
    replies.extend(run.stub.DecideBatch(batch, timeout=10).responses)
    with ThreadPoolExecutor(8) as pool:  # overlapping Decides: micro-batched with max_batch 8
        ids = ["C1" if i % 2 else f"anon-{i}" for i in range(24)]
        replies.extend(pool.map(lambda c: run.stub.Decide(make_request(c), timeout=10), ids))
    assert log.flush(10)
    rows = sink.rows(DECISIONS)
    assert len(rows) == len(replies) == 29
    by_id = {row["decision_id"]: row for row in rows}
    assert len(by_id) == len(rows)
    for reply in replies:
        _check_row(by_id[reply.decision_id], reply, engine)
    assert table(DECISIONS, rows).schema == DECISION_SCHEMA  # rows fit the shared schema
    engine.close()  # closes the log too
    assert sink.closed


def test_full_log_in_refuse_mode_fails_decide_unavailable(
    runner: ModelRunner, start_server: Callable[..., Running]
) -> None:
    sink = GateSink()
    log = QueuedRecordLog(sink, queue_size=2, batch_max=1, flush_s=60, when_full="refuse")
    engine = _engine(runner, log)
    run = start_server(engine)
    try:
        first = run.stub.Decide(make_request("C1"), timeout=10)
        assert sink.entered.acquire(timeout=10)  # the writer is stuck in its first row
        queued = [run.stub.Decide(make_request("C1"), timeout=10) for _ in range(2)]
        with pytest.raises(grpc.RpcError) as refused:
            run.stub.Decide(make_request("C1"), timeout=10)
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
        assert refused.value.details() == "decision/outcome log full; retry later"
        with pytest.raises(grpc.RpcError) as batch_refused:
            run.stub.DecideBatch(pb.DecideBatchRequest(requests=[make_request("C1")]), timeout=10)
        assert batch_refused.value.code() is grpc.StatusCode.UNAVAILABLE
    finally:
        sink.gate.set()
    engine.close()
    logged = [row["decision_id"] for row in sink.rows(DECISIONS)]
    assert logged == [r.decision_id for r in [first, *queued]]  # the refused left no row


def test_build_engine_logs_to_files_and_close_writes_them(
    engine_feast_repo: FeastFixture, model_dir: Path, tmp_path: Path
) -> None:
    settings = test_settings(
        feature_repo=engine_feast_repo.repo,
        models_dir=model_dir,
        decision_log="file",
        decision_log_dir=tmp_path,
        decision_log_flush_s=60,  # only close() writes
    )
    engine = build_engine(settings)
    decided = engine.decide_batch([turn(c) for c in engine_feast_repo.known_ids[:3]])
    assert read_log(tmp_path, DECISIONS).num_rows == 0
    engine.close()
    logged = read_log(tmp_path, DECISIONS).to_pylist()
    assert [r["decision_id"] for r in logged] == [d.decision_id for d in decided]
    assert all(r["features"] != "{}" for r in logged)
