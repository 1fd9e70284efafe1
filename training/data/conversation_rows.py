"""Rows of the conversation-state offline store (``conversation_state.parquet``).

One layout (:data:`SCHEMA`, the contract's ``CONVERSATION_STATE``) for every writer:
the simulator (training/sim/conversations.py) and the history derived from the
server's logs (training/feedback/conversations.py). :func:`state_table` turns folded
states into rows; :func:`merge_rows` folds new rows into an existing file by the key
(``conversation_id``, ``event_timestamp``), so writing the same rows twice changes
nothing; :func:`read_rows` reads a file written by either, or the schema-only file
``feast apply`` leaves (feature_repo/data_sources.py), in this layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from modelio.conversation import CONVERSATION_FEATURES, CONVERSATION_KEY, ConversationState, to_row
from training.data.contract import CONVERSATION_STATE, timestamp_ns, to_timestamp

SCHEMA = CONVERSATION_STATE.arrow_schema()
#: Arrow types of the view's raw features (what to_row gives, as the view declares them).
FEATURE_TYPES: dict[str, pa.DataType] = {
    name: SCHEMA.field(name).type for name in CONVERSATION_FEATURES
}
#: The file under a data folder (``<repo>/data``) that the view's FileSource reads.
FILE_NAME = f"{CONVERSATION_STATE.name}.parquet"
_KEY = (CONVERSATION_KEY, "event_timestamp")


def state_table(
    conversation_ids: Sequence[str],
    customer_ids: Sequence[str] | pa.Array | pa.ChunkedArray,
    states: Sequence[ConversationState],
    at_ns: np.ndarray,
) -> pa.Table:
    """One row per state: its conversation, customer and raw features (``to_row``),
    stamped at ``at_ns`` (int64 ns since the epoch; ``created_timestamp`` the same)."""
    out: dict[str, list] = {name: [] for name in CONVERSATION_FEATURES}
    for state in states:
        for name, value in to_row(state).items():
            out[name].append(value)
    stamps = to_timestamp(np.asarray(at_ns, dtype=np.int64))
    customers = (
        customer_ids
        if isinstance(customer_ids, pa.Array | pa.ChunkedArray)
        else pa.array(list(customer_ids), pa.string())
    )
    columns = {
        CONVERSATION_KEY: pa.array(list(conversation_ids), pa.string()),
        "customer_id": customers,
        **{name: pa.array(out[name], FEATURE_TYPES[name]) for name in CONVERSATION_FEATURES},
        "event_timestamp": stamps,
        "created_timestamp": stamps,
    }
    return pa.table(columns, schema=SCHEMA)


def read_rows(path: Path) -> pa.Table:
    """The rows of ``path`` in :data:`SCHEMA` (empty when missing or schema-only).

    ValueError when the file has rows but lacks a column of the layout."""
    if not path.exists():
        return SCHEMA.empty_table()
    found = pq.read_table(path)
    if found.num_rows == 0:
        return SCHEMA.empty_table()
    missing = [name for name in SCHEMA.names if name not in found.column_names]
    if missing:
        raise ValueError(f"{path} lacks conversation-state columns {missing}")
    return found.select(SCHEMA.names).cast(SCHEMA)


@dataclass(frozen=True)
class Merged:
    """The merged rows, and how many new rows were added or replaced a row with their key."""

    table: pa.Table
    added: int
    replaced: int


def merge_rows(existing: pa.Table, new: pa.Table) -> Merged:
    """``existing`` with ``new`` folded in by (conversation_id, event_timestamp): a new row
    replaces the existing row of its key, every other existing row is kept; sorted by key."""
    new_keys = set(_keys(new))
    kept = [key not in new_keys for key in _keys(existing)]
    replaced = len(kept) - sum(kept)
    rest = existing.filter(pa.array(kept, pa.bool_())) if existing.num_rows else existing
    table = pa.concat_tables([rest, new.cast(SCHEMA)])
    order = pc.sort_indices(table, sort_keys=[(name, "ascending") for name in _KEY])
    return Merged(table.take(order), new.num_rows - replaced, replaced)


def _keys(table: pa.Table) -> list[tuple[str, int]]:
    ids = table.column(CONVERSATION_KEY).to_pylist()
    stamps = timestamp_ns(table.column("event_timestamp")).tolist()
    return list(zip(ids, stamps, strict=True))
