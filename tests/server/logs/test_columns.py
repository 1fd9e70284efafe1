"""Columnar decision rows: what the engine hands the log is converted on the writer
thread; merged over many submits it gives exactly the rows of each submit, in order,
beside plain dict rows; shadow rows derive their ids and share the served features."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from modelio.logrecords import DECISION_SCHEMA, DECISIONS, table
from modelio.vocab import ACTIONS
from server.engine.decide import DecisionEngine
from server.engine.records import _MATRICES, _SCALARS, DecisionColumns
from server.logs.base import ArrowRows, Parts, to_table
from server.logs.queue import QueuedRecordLog
from server.models.runner import ModelRunner
from tests.support.engines import ENGAGEMENT, NOW_TS, PROFILE, SUPPORT, ScriptedReader, turn
from tests.support.engines import features as customer
from tests.support.record_logs import MemoryLog
from tests.support.record_sinks import RecordingSink, decision_row

KNOWN = {**PROFILE, **SUPPORT, **ENGAGEMENT}


@pytest.fixture(scope="module")
def logged(model_dir: Path) -> tuple[DecisionEngine, MemoryLog]:
    rows = {c: customer(c, KNOWN) for c in ("C1", "C2")}
    log = MemoryLog()
    engine = DecisionEngine(
        ModelRunner.load(model_dir), ScriptedReader(rows), lambda: NOW_TS, log=log
    )
    return engine, log


def _submitted(log: MemoryLog, engine: DecisionEngine, batches: list[list[str]]) -> list[Any]:
    parts: list[Any] = []
    original = log.submit

    def keep(kind: str, rows: Any) -> None:
        parts.append(rows)
        original(kind, rows)

    log.submit = keep  # type: ignore[method-assign]
    try:
        for ids in batches:
            engine.decide_batch([turn(c, f"r-{c}-{i}") for i, c in enumerate(ids)])
    finally:
        log.submit = original  # type: ignore[method-assign]
    return parts


def test_every_schema_column_is_kept_once() -> None:
    assert sorted((*_SCALARS, *_MATRICES)) == sorted(DECISION_SCHEMA.names)


def test_rows_match_the_decisions_and_merge_in_order(
    logged: tuple[DecisionEngine, MemoryLog],
) -> None:
    engine, log = logged
    batches = [["C1"], ["anon-1", "C2", "C1"], ["C2"]]
    parts = _submitted(log, engine, batches)
    assert all(isinstance(p, DecisionColumns) for p in parts)
    merged = to_table(DECISIONS, Parts(parts))
    assert merged.schema == DECISION_SCHEMA
    alone = pa.concat_tables(p.arrow() for p in parts)
    assert merged.to_pylist() == alone.to_pylist()
    rows = merged.to_pylist()
    assert [r["customer_id"] for r in rows] == [c for b in batches for c in b]
    for row in rows:
        assert row["action"] == ACTIONS[row["action_index"]]
        assert row["probabilities"][row["action_index"]] == row["propensity"]
        assert len(row["scores"]) == len(ACTIONS)
        assert len(row["inputs"]) == len(engine.bundle.inputs)
        assert row["ts"].timestamp() == NOW_TS
        expected = {} if row["customer_id"].startswith("anon") else KNOWN
        assert json.loads(row["features"]) == expected
    # Reading the rows one by one (what test doubles and the stream sink do) agrees.
    assert [dict(r) for p in parts for r in p] == rows


def test_matrices_are_the_model_inputs_exactly(logged: tuple[DecisionEngine, MemoryLog]) -> None:
    engine, log = logged
    (part,) = _submitted(log, engine, [["C1", "C2"]])
    got = part.arrow()
    inputs = np.asarray(got.column("inputs").to_pylist(), dtype=np.float32)
    assert np.array_equal(inputs, part.inputs)
    scores = np.asarray(got.column("scores").to_pylist())
    assert np.array_equal(scores, part.scores.astype(np.float64))


def test_columnar_parts_and_dict_rows_keep_their_order(
    logged: tuple[DecisionEngine, MemoryLog],
) -> None:
    engine, log = logged
    first, second = _submitted(log, engine, [["C1"], ["C2", "C2"]])
    plain = [decision_row(i) for i in range(3)]
    mixed = to_table(DECISIONS, Parts([plain[:2], first, plain[2:], second]))
    ids = mixed.column("decision_id").to_pylist()
    assert ids == ["d-00000", "d-00001", *first.ids, "d-00002", *second.ids]
    assert mixed.slice(0, 2).to_pylist() == table(DECISIONS, plain[:2]).to_pylist()


def test_a_columnar_part_is_written_whole_even_past_batch_max(
    logged: tuple[DecisionEngine, MemoryLog],
) -> None:
    engine, log = logged
    (part,) = _submitted(log, engine, [["C1", "C2", "C1", "C2"]])
    sink = RecordingSink()
    queue = QueuedRecordLog(sink, batch_max=3, flush_s=60)
    queue.submit(DECISIONS, [decision_row(0), decision_row(1)])
    queue.submit(DECISIONS, part)
    assert queue.flush(10)
    queue.close(10)
    assert [len(rows) for _, rows in sink.batches] == [6]  # 2 plain rows + the whole part
    assert [r["decision_id"] for r in sink.rows(DECISIONS)][2:] == part.ids
    assert isinstance(part, ArrowRows)


def test_a_feature_json_cannot_encode_is_logged_as_text_not_a_failed_flush() -> None:
    """The rows are built on the writer thread for a whole flush: a raw value orjson
    cannot encode (bytes, an int past 64 bits) is written as text, never raises."""
    from server.engine.records import features_json

    assert json.loads(features_json({"tier": "gold", "score": 0.5})) == {
        "tier": "gold",
        "score": 0.5,
    }
    odd = json.loads(features_json({"blob": b"\x00\x01", "huge": 2**70, "tier": "gold"}))
    assert odd == {"blob": "b'\\x00\\x01'", "huge": str(2**70), "tier": "gold"}
