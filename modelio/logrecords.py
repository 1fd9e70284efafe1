"""The decision and outcome log records: one schema for the server that writes them,
the stream drain, the feedback join and erasure.

Rows are plain dicts keyed by the column names below (the parquet files' and Redis
stream entries' layout); :func:`decision_table` / :func:`outcome_table` turn a list of
rows into an Arrow table with exactly this schema. Stream entries carry the same row
JSON-encoded under one field (``row``), so every sink stores the same record.

Experiments (``modelio.experiment``): ``arm`` is the arm that answered ("" without an
experiment). Each **shadow** version scores every request without acting and adds one
more decisions row per served decision: ``arm = "shadow:<version>"``,
``model_version = <version>``, ``decision_id = "<served decision_id>:shadow:<version>"``,
the same turn, features and inputs as the served row, and the shadow policy's own
``action``, ``probabilities`` and ``propensity``. Such an id never reaches a caller,
so no outcome joins it directly: off-policy evaluation of a shadow takes the outcome
of the served ``decision_id`` (the part before ``:shadow:``) and the served row's
logging propensity, and uses the shadow row as the candidate's choice. Readers that
want only served decisions use :func:`served_only` (the feedback join does, so the
logged-bandit dataset holds served decisions only).

Log folders (embedded default): ``<log_dir>/decisions/date=YYYY-MM-DD/*.parquet`` and
``<log_dir>/outcomes/date=YYYY-MM-DD/*.parquet`` (hive-style day partitions, which
retention deletes whole).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

DECISIONS = "decisions"
OUTCOMES = "outcomes"
STREAM_FIELD = "row"  # the one field of a stream entry: the row as JSON

_TS = pa.timestamp("us", tz="UTC")

#: One row per decided turn (Decide and DecideBatch alike).
DECISION_SCHEMA = pa.schema(
    [
        ("decision_id", pa.string()),
        ("ts", _TS),  # when the server decided
        ("customer_id", pa.string()),
        ("request_id", pa.string()),
        ("conversation_id", pa.string()),
        ("model_version", pa.string()),
        ("arm", pa.string()),  # experiment arm ("" outside experiments)
        # The turn's context, as the engine received it (re-encodable with modelio.context).
        ("channel", pa.string()),
        ("device", pa.string()),
        ("issue_category", pa.string()),
        ("sentiment", pa.float64()),
        ("event_time", _TS),
        ("time_zone", pa.string()),
        ("locale", pa.string()),
        ("turn_index", pa.int64()),
        ("features", pa.string()),  # raw online features served, JSON object
        ("inputs", pa.list_(pa.float32())),  # encoded escalation inputs, manifest order
        ("probabilities", pa.list_(pa.float64())),  # policy's distribution over ACTIONS
        ("action", pa.string()),
        ("action_index", pa.int64()),
        ("propensity", pa.float64()),
        ("scores", pa.list_(pa.float64())),  # predicted success of each action
        ("escalation_probability", pa.float64()),
        ("segment_id", pa.int64()),
        ("personalized", pa.bool_()),
        ("degraded", pa.bool_()),
        ("degraded_reasons", pa.list_(pa.string())),
    ]
)

#: One row per outcome received (duplicates included: the join counts them once).
OUTCOME_SCHEMA = pa.schema(
    [
        ("decision_id", pa.string()),
        ("received_at", _TS),  # when the server acknowledged it
        ("event_time", _TS),  # when it happened, as the caller says
        ("resolved", pa.bool_()),
        ("escalated", pa.bool_()),
        ("csat", pa.int64()),  # 1-5, or null when not given
        ("principal", pa.string()),  # API key id that sent it ("" with auth off)
        # The conversation its RecordOutcome named ("" none; null in logs written before
        # the column existed), so the offline conversation fold applies what online did.
        ("conversation_id", pa.string()),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {DECISIONS: DECISION_SCHEMA, OUTCOMES: OUTCOME_SCHEMA}


def table(kind: str, rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Rows of ``kind`` (decisions or outcomes) as an Arrow table of its schema."""
    return pa.Table.from_pylist([dict(r) for r in rows], schema=SCHEMAS[kind])


#: The ``arm`` of a shadow version's rows starts with this (``modelio.experiment``).
SHADOW_ARM_PREFIX = "shadow:"


def served_only(decisions: pa.Table) -> pa.Table:
    """The decisions table without shadow rows (the decisions callers actually got)."""
    if decisions.num_rows == 0 or "arm" not in decisions.column_names:
        return decisions
    arms = decisions.column("arm").to_pylist()
    keep = [not (a or "").startswith(SHADOW_ARM_PREFIX) for a in arms]
    return decisions if all(keep) else decisions.filter(pa.array(keep, type=pa.bool_()))


def to_stream_entry(row: Mapping[str, Any]) -> dict[str, str]:
    """A row as a Redis stream entry (timestamps as ISO 8601 strings)."""
    return {STREAM_FIELD: json.dumps(row, default=_json_default, separators=(",", ":"))}


def from_stream_entry(kind: str, fields: Mapping[Any, Any]) -> dict[str, Any]:
    """The row of a stream entry, with its timestamps parsed back; KeyError if malformed."""
    raw = fields.get(STREAM_FIELD) or fields[STREAM_FIELD.encode()]
    row: dict[str, Any] = json.loads(raw)
    for name in SCHEMAS[kind].names:
        if SCHEMAS[kind].field(name).type == _TS and isinstance(row.get(name), str):
            row[name] = _parse_ts(row[name])
    return row


def read_log(log_dir: Path, kind: str) -> pa.Table:
    """Every parquet file of ``<log_dir>/<kind>/`` as one table (empty if none)."""
    files = sorted((log_dir / kind).rglob("*.parquet"))
    if not files:
        return SCHEMAS[kind].empty_table()
    return pa.concat_tables(pq.read_table(f, schema=SCHEMAS[kind]) for f in files)


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _parse_ts(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text)
