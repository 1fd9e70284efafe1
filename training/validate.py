"""Validate source parquet files against the contract in training/data/contract.py.

Every row is checked (vectorized, batch by batch, so a 1M-customer directory fits in
memory); each problem is reported per table, column and rule with a count and up to
five examples. Nothing is dropped or fixed. Feature-view sources are required; the raw
tables (tickets, engagement_daily, decisions) are checked only when present.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from modelio.context import UnknownTimeZoneError, zone
from training.data.contract import SOURCES, Column, TableSpec

MAX_EXAMPLES = 5
_UTC = {"UTC", "utc", "+00:00", "Etc/UTC", "Z"}


@dataclass
class Violation:
    """``count`` rows of ``table`` break ``rule`` on ``column`` (examples: values or keys)."""

    table: str
    column: str
    rule: str
    count: int
    examples: list[str] = field(default_factory=list)

    def format(self) -> str:
        """One human-readable line."""
        examples = ", ".join(self.examples)
        return f"{self.table}.{self.column} [{self.rule}]: {self.count} row(s), e.g. {examples}"


@dataclass
class ValidationReport:
    """Outcome of :func:`validate_sources`; ``rows`` counts the rows checked per table."""

    data_dir: Path
    violations: list[Violation] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no rule is broken."""
        return not self.violations

    def format(self) -> str:
        """Multi-line report for humans."""
        head = f"validation of {self.data_dir}: " + (
            "OK" if self.ok else f"FAILED ({len(self.violations)} violation(s))"
        )
        lines = [head]
        lines += [f"  {name}.parquet: {n} rows checked" for name, n in self.rows.items()]
        lines += [f"  {name}.parquet: absent (optional raw table, skipped)" for name in self.absent]
        lines += [f"  VIOLATION {v.format()}" for v in self.violations]
        return "\n".join(lines)


class DataValidationError(ValueError):
    """Raised by :func:`check_sources`; ``report`` holds the details."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(report.format())
        self.report = report


class _Found:
    """Accumulates counts and examples per (column, rule) across batches."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.items: dict[tuple[str, str], Violation] = {}

    def add(self, column: str, rule: str, count: int, examples: list[str]) -> None:
        if count <= 0:
            return
        v = self.items.setdefault((column, rule), Violation(self.table, column, rule, 0))
        v.count += count
        v.examples.extend(examples[: MAX_EXAMPLES - len(v.examples)])


def _kind_problem(col: Column, typ: pa.DataType) -> str | None:
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


def _examples(values: pa.Array, mask: np.ndarray) -> list[str]:
    idx = np.flatnonzero(mask)[:MAX_EXAMPLES]
    return [repr(values[int(i)].as_py()) for i in idx]


def _key_examples(batch: pa.Table, spec: TableSpec, mask: np.ndarray, offset: int) -> list[str]:
    idx = np.flatnonzero(mask)[:MAX_EXAMPLES]
    keys = [k for k in spec.key if k in batch.column_names]
    if not keys:
        return [f"row {offset + int(i)}" for i in idx]
    return [" ".join(f"{k}={batch[k][int(i)].as_py()}" for k in keys) for i in idx]


def _np(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _check_column(
    found: _Found, spec: TableSpec, col: Column, batch: pa.Table, offset: int
) -> None:
    values = batch[col.name]
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    values = values.combine_chunks()
    null = _np(pc.is_null(values, nan_is_null=True))
    if not col.nullable:
        found.add(col.name, "null", int(null.sum()), _key_examples(batch, spec, null, offset))
    if col.enum is not None:
        bad = ~null & ~_np(pc.is_in(values, value_set=pa.array(col.enum)))
        found.add(col.name, "enum", int(bad.sum()), _examples(values, bad))
    if col.lo is not None or col.hi is not None:
        arr = values.to_numpy(zero_copy_only=False).astype(np.float64)
        bad = np.zeros(len(arr), dtype=bool)
        with np.errstate(invalid="ignore"):
            if col.lo is not None:
                bad |= (arr <= col.lo) if col.lo_open else (arr < col.lo)
            if col.hi is not None:
                bad |= arr > col.hi
        bad &= ~null
        found.add(col.name, "range", int(bad.sum()), _examples(values, bad))


def _num(batch: pa.Table, name: str) -> np.ndarray:
    col = batch[name]
    if pa.types.is_timestamp(col.type):
        col = pc.cast(col, pa.timestamp("ns", tz=col.type.tz)).cast(pa.int64())
    return col.to_numpy(zero_copy_only=False).astype(np.float64)


_Rule = tuple[str, str, tuple[str, ...], Callable[[pa.Table], np.ndarray]]


def _cross_rules(spec: TableSpec) -> list[_Rule]:
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


def _check_timezones(found: _Found, batch: pa.Table) -> None:
    names = pc.unique(batch["timezone"].combine_chunks()).to_pylist()
    bad = []
    for name in names:
        try:
            zone(name) if name else None
        except UnknownTimeZoneError:
            bad.append(name)
    if bad:
        mask = _np(
            pc.is_in(batch["timezone"].combine_chunks(), value_set=pa.array(bad, pa.string()))
        )
        found.add("timezone", "unknown_timezone", int(mask.sum()), [repr(b) for b in bad])


class _Keys:
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
            lt, eq = _np(pc.less(b, a)), _np(pc.equal(b, a))
            before = lt | (eq & before)
            equal &= eq
        if before.any():
            self.sorted = False
            return
        self.dups += int(equal.sum())
        if len(self.examples) < MAX_EXAMPLES:
            self.examples += _key_examples(both.slice(1), self.spec, equal, 0)

    def finish(self, path: Path, found: _Found) -> None:
        if not self.sorted:
            keys = pq.read_table(path, columns=list(self.spec.key))
            counts = keys.group_by(list(self.spec.key)).aggregate([([], "count_all")])
            dup = counts.filter(pc.greater(counts["count_all"], 1))
            self.dups = int(pc.sum(dup["count_all"]).as_py() or 0) - dup.num_rows
            self.examples = _key_examples(dup, self.spec, np.ones(dup.num_rows, dtype=bool), 0)
        found.add("+".join(self.spec.key), "duplicate_key", self.dups, self.examples[:MAX_EXAMPLES])


def validate_table(
    path: Path, spec: TableSpec, batch_rows: int = 1 << 20
) -> tuple[int, list[Violation]]:
    """Check one parquet file against ``spec``; returns (rows checked, violations)."""
    found = _Found(spec.name)
    try:
        file = pq.ParquetFile(path)
    except Exception as exc:  # a corrupt file is a finding, not a crash
        return 0, [Violation(spec.name, "*", "unreadable", 1, [str(exc)[:200]])]
    schema, rows = file.schema_arrow, file.metadata.num_rows
    good: list[Column] = []
    for col in spec.columns:
        if col.name not in schema.names:
            found.add(col.name, "missing_column", max(rows, 1), [])
        elif problem := _kind_problem(col, schema.field(col.name).type):
            found.add(col.name, "dtype", max(rows, 1), [problem])
        else:
            good.append(col)
    names = {c.name for c in good}
    keys = _Keys(spec) if set(spec.key) <= names else None
    cross = [r for r in _cross_rules(spec) if set(r[2]) <= names]
    offset = 0
    for rb in file.iter_batches(batch_size=batch_rows, columns=[c.name for c in good]):
        batch = pa.Table.from_batches([rb])
        for col in good:
            _check_column(found, spec, col, batch, offset)
        for column, rule, _cols, bad_fn in cross:
            bad = bad_fn(batch)
            found.add(column, rule, int(bad.sum()), _key_examples(batch, spec, bad, offset))
        if spec.name == "tickets" and "timezone" in names:
            _check_timezones(found, batch)
        if keys is not None:
            keys.add(batch)
        offset += batch.num_rows
    if keys is not None:
        keys.finish(path, found)
    return offset, list(found.items.values())


def _foreign_keys(data_dir: Path, report: ValidationReport) -> None:
    """decisions.ticket_id must name a ticket when both raw tables are present and typed."""
    dec, tick = data_dir / "decisions.parquet", data_dir / "tickets.parquet"
    typed = {
        (v.table, v.column)
        for v in report.violations
        if v.rule in ("dtype", "missing_column", "unreadable")
    }
    if (
        not (dec.exists() and tick.exists())
        or {("decisions", "ticket_id"), ("tickets", "ticket_id")} & typed
    ):
        return
    if ("tickets", "*") in typed or ("decisions", "*") in typed:
        return
    ids = pq.read_table(tick, columns=["ticket_id"])["ticket_id"]
    ref = pq.read_table(dec, columns=["ticket_id"])["ticket_id"]
    bad = ~_np(pc.is_in(ref, value_set=ids.combine_chunks())) & ~_np(pc.is_null(ref))
    if bad.any():
        report.violations.append(
            Violation(
                "decisions",
                "ticket_id",
                "unknown_ticket",
                int(bad.sum()),
                _examples(ref.combine_chunks(), bad),
            )
        )


def validate_sources(data_dir: Path) -> ValidationReport:
    """Check every source table in ``data_dir`` (see module docstring)."""
    data_dir = Path(data_dir)
    report = ValidationReport(data_dir)
    for spec in SOURCES:
        path = data_dir / f"{spec.name}.parquet"
        if not path.exists():
            if spec.required:
                report.violations.append(Violation(spec.name, "*", "missing_table", 1, [str(path)]))
            else:
                report.absent.append(spec.name)
            continue
        rows, violations = validate_table(path, spec)
        report.rows[spec.name] = rows
        report.violations.extend(violations)
    _foreign_keys(data_dir, report)
    return report


def check_sources(data_dir: Path) -> None:
    """Raise :class:`DataValidationError` (a ValueError) unless ``data_dir`` is valid."""
    report = validate_sources(data_dir)
    if not report.ok:
        raise DataValidationError(report)
