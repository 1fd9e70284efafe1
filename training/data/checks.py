"""The checks of one batch of a table: kinds, nulls, enums, ranges, cross-column rules,
time zones and duplicate keys (each adds to a :class:`~training.data.findings.Found`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from modelio.context import UnknownTimeZoneError, zone
from training.data.contract import Column, TableSpec
from training.data.findings import MAX_EXAMPLES, Found, bool_mask, key_examples, value_examples

_UTC = {"UTC", "utc", "+00:00", "Etc/UTC", "Z"}


def kind_problem(col: Column, typ: pa.DataType) -> str | None:
    """Why ``typ`` does not match the column kind, or None."""
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    ok = {
        "string": pa.types.is_string(typ) or pa.types.is_large_string(typ),
        "int": pa.types.is_integer(typ),
        "float": pa.types.is_floating(typ),
        "bool": pa.types.is_boolean(typ),
        "timestamp": pa.types.is_timestamp(typ),
    }[col.kind]
    if not ok:
        return f"{typ} (expected {col.kind})"
    if col.kind == "timestamp" and getattr(typ, "tz", None) not in _UTC:
        return f"{typ} (expected a UTC timestamp)"
    return None


def check_column(found: Found, spec: TableSpec, col: Column, batch: pa.Table, offset: int) -> None:
    values = batch[col.name]
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    values = values.combine_chunks()
    null = bool_mask(pc.is_null(values, nan_is_null=True))
    if not col.nullable:
        found.add(col.name, "null", int(null.sum()), key_examples(batch, spec, null, offset))
    if col.enum is not None:
        bad = ~null & ~bool_mask(pc.is_in(values, value_set=pa.array(col.enum)))
        found.add(col.name, "enum", int(bad.sum()), value_examples(values, bad))
    if col.lo is not None or col.hi is not None:
        arr = values.to_numpy(zero_copy_only=False).astype(np.float64)
        bad = np.zeros(len(arr), dtype=bool)
        with np.errstate(invalid="ignore"):
            if col.lo is not None:
                bad |= (arr <= col.lo) if col.lo_open else (arr < col.lo)
            if col.hi is not None:
                bad |= arr > col.hi
        bad &= ~null
        found.add(col.name, "range", int(bad.sum()), value_examples(values, bad))


def _num(batch: pa.Table, name: str) -> np.ndarray:
    col = batch[name]
    if pa.types.is_timestamp(col.type):
        col = pc.cast(col, pa.timestamp("ns", tz=col.type.tz)).cast(pa.int64())
    return col.to_numpy(zero_copy_only=False).astype(np.float64)


_Rule = tuple[str, str, tuple[str, ...], Callable[[pa.Table], np.ndarray]]


def cross_rules(spec: TableSpec) -> list[_Rule]:
    """(column, rule, needed columns, bad(batch) -> mask) checks between columns."""
    s = 1e9  # ns per second
    rules: dict[str, list[_Rule]] = {
        "tickets": [
            (
                "closed_at",
                "closed_before_open",
                ("closed_at", "event_timestamp"),
                lambda b: _num(b, "closed_at") < _num(b, "event_timestamp"),
            ),
            (
                "turn_count",
                "less_than_turn_index",
                ("turn_count", "turn_index"),
                lambda b: _num(b, "turn_count") < _num(b, "turn_index"),
            ),
            (
                "resolution_hours",
                "differs_from_close_minus_open",
                ("closed_at", "event_timestamp", "resolution_hours"),
                lambda b: (
                    np.abs(
                        (_num(b, "closed_at") - _num(b, "event_timestamp")) / s
                        - _num(b, "resolution_hours") * 3600
                    )
                    > 1.0
                ),
            ),
        ],
        "support_history": [
            (
                "tickets_30d",
                "exceeds_tickets_90d",
                ("tickets_30d", "tickets_90d"),
                lambda b: _num(b, "tickets_30d") > _num(b, "tickets_90d"),
            ),
            (
                "billing_tickets_90d",
                "category_counts_exceed_tickets_90d",
                ("billing_tickets_90d", "technical_tickets_90d", "tickets_90d"),
                lambda b: (
                    _num(b, "billing_tickets_90d") + _num(b, "technical_tickets_90d")
                    > _num(b, "tickets_90d")
                ),
            ),
            (
                "last_ticket_ts",
                "after_event_timestamp",
                ("last_ticket_ts", "event_timestamp"),
                lambda b: _num(b, "last_ticket_ts") * s > _num(b, "event_timestamp"),
            ),
        ],
    }
    return rules.get(spec.name, [])


def check_timezones(found: Found, batch: pa.Table) -> None:
    names = pc.unique(batch["timezone"].combine_chunks()).to_pylist()
    bad = []
    for name in names:
        try:
            zone(name) if name else None
        except UnknownTimeZoneError:
            bad.append(name)
    if bad:
        mask = bool_mask(
            pc.is_in(batch["timezone"].combine_chunks(), value_set=pa.array(bad, pa.string()))
        )
        found.add("timezone", "unknown_timezone", int(mask.sum()), [repr(b) for b in bad])


class DuplicateKeys:
    """Duplicate-key detection: streaming while rows are sorted by key, else a full pass."""

    def __init__(self, spec: TableSpec) -> None:
        self.spec = spec
        self.last: pa.Table | None = None
        self.sorted = True
        self.dups = 0
        self.examples: list[str] = []

    def add(self, batch: pa.Table) -> None:
        keys = batch.select(list(self.spec.key))
        both = pa.concat_tables([self.last, keys]) if self.last is not None else keys
        self.last = keys.slice(len(keys) - 1) if len(keys) else self.last
        if len(both) < 2 or not self.sorted:
            return
        equal = np.ones(len(both) - 1, dtype=bool)
        before = np.zeros(len(both) - 1, dtype=bool)
        for name in reversed(self.spec.key):  # lexicographic: first key column decides
            a, b = both[name].combine_chunks()[:-1], both[name].combine_chunks()[1:]
            lt, eq = bool_mask(pc.less(b, a)), bool_mask(pc.equal(b, a))
            before = lt | (eq & before)
            equal &= eq
        if before.any():
            self.sorted = False
            return
        self.dups += int(equal.sum())
        if len(self.examples) < MAX_EXAMPLES:
            self.examples += key_examples(both.slice(1), self.spec, equal, 0)

    def finish(self, path: Path, found: Found) -> None:
        if not self.sorted:
            keys = pq.read_table(path, columns=list(self.spec.key))
            counts = keys.group_by(list(self.spec.key)).aggregate([([], "count_all")])
            dup = counts.filter(pc.greater(counts["count_all"], 1))
            self.dups = int(pc.sum(dup["count_all"]).as_py() or 0) - dup.num_rows
            self.examples = key_examples(dup, self.spec, np.ones(dup.num_rows, dtype=bool), 0)
        found.add("+".join(self.spec.key), "duplicate_key", self.dups, self.examples[:MAX_EXAMPLES])
