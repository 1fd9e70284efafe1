"""What validation finds: violations, the report, the error, and example formatting."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from training.data.contract import TableSpec

MAX_EXAMPLES = 5


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


class Found:
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


def value_examples(values: pa.Array, mask: np.ndarray) -> list[str]:
    idx = np.flatnonzero(mask)[:MAX_EXAMPLES]
    return [repr(values[int(i)].as_py()) for i in idx]


def key_examples(batch: pa.Table, spec: TableSpec, mask: np.ndarray, offset: int) -> list[str]:
    idx = np.flatnonzero(mask)[:MAX_EXAMPLES]
    keys = [k for k in spec.key if k in batch.column_names]
    if not keys:
        return [f"row {offset + int(i)}" for i in idx]
    return [" ".join(f"{k}={batch[k][int(i)].as_py()}" for k in keys) for i in idx]


def bool_mask(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)
