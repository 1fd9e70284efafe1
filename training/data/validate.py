"""Validate source parquet files against the contract in training/data/contract.py.

Every row is checked (vectorized, batch by batch, so a 1M-customer directory fits in
memory); each problem is reported per table, column and rule with a count and up to
five examples. Nothing is dropped or fixed. Feature-view sources are required; the raw
tables (tickets, engagement_daily, decisions) are checked only when present.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from training.data.checks import (
    DuplicateKeys,
    check_column,
    check_timezones,
    cross_rules,
    kind_problem,
)
from training.data.contract import SOURCES, Column, TableSpec
from training.data.findings import (
    DataValidationError,
    Found,
    ValidationReport,
    Violation,
    bool_mask,
    key_examples,
    value_examples,
)


def validate_table(
    path: Path, spec: TableSpec, batch_rows: int = 1 << 20
) -> tuple[int, list[Violation]]:
    """Check one parquet file against ``spec``; returns (rows checked, violations)."""
    found = Found(spec.name)
    try:
        file = pq.ParquetFile(path)
    except Exception as exc:  # a corrupt file is a finding, not a crash
        return 0, [Violation(spec.name, "*", "unreadable", 1, [str(exc)[:200]])]
    schema, rows = file.schema_arrow, file.metadata.num_rows
    good: list[Column] = []
    for col in spec.columns:
        if col.name not in schema.names:
            found.add(col.name, "missing_column", max(rows, 1), [])
        elif problem := kind_problem(col, schema.field(col.name).type):
            found.add(col.name, "dtype", max(rows, 1), [problem])
        else:
            good.append(col)
    names = {c.name for c in good}
    keys = DuplicateKeys(spec) if set(spec.key) <= names else None
    cross = [r for r in cross_rules(spec) if set(r[2]) <= names]
    offset = 0
    for rb in file.iter_batches(batch_size=batch_rows, columns=[c.name for c in good]):
        batch = pa.Table.from_batches([rb])
        for col in good:
            check_column(found, spec, col, batch, offset)
        for column, rule, _cols, bad_fn in cross:
            bad = bad_fn(batch)
            found.add(column, rule, int(bad.sum()), key_examples(batch, spec, bad, offset))
        if spec.name == "tickets" and "timezone" in names:
            check_timezones(found, batch)
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
    bad = ~bool_mask(pc.is_in(ref, value_set=ids.combine_chunks())) & ~bool_mask(pc.is_null(ref))
    if bad.any():
        report.violations.append(
            Violation(
                "decisions",
                "ticket_id",
                "unknown_ticket",
                int(bad.sum()),
                value_examples(ref.combine_chunks(), bad),
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
