"""training/data/validate.py: a clean simulation passes, each kind of corruption is named."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from training.__main__ import main
from training.data.findings import DataValidationError
from training.data.validate import check_sources, validate_sources
from training.sim.config import SimConfig
from training.sim.run import simulate


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clean")
    simulate(
        SimConfig(
            customers=300, seed=3, end=datetime(2026, 1, 1, tzinfo=UTC), out=out, validate=False
        ),
        progress=None,
    )
    return out


@pytest.fixture
def data(clean: Path, tmp_path: Path) -> Path:
    shutil.copytree(clean, tmp_path / "data")
    return tmp_path / "data"


def _edit(data: Path, name: str, column: str, values: pa.Array | list) -> None:
    path = data / f"{name}.parquet"
    table = pq.read_table(path)
    arr = values if isinstance(values, pa.Array) else pa.array(values)
    i = table.schema.get_field_index(column)
    table = table.set_column(i, pa.field(column, arr.type), arr)
    pq.write_table(table, path)


def _column(data: Path, name: str, column: str) -> list:
    return pq.read_table(data / f"{name}.parquet", columns=[column])[column].to_pylist()


def _single(data: Path, table: str, column: str, rule: str) -> str:
    report = validate_sources(data)
    assert not report.ok
    found = [v for v in report.violations if (v.table, v.column, v.rule) == (table, column, rule)]
    assert len(found) == 1, report.format()
    with pytest.raises(DataValidationError) as err:
        check_sources(data)
    assert isinstance(err.value, ValueError)
    message = str(err.value)
    assert f"{table}.{column} [{rule}]" in message
    return message


def test_clean_simulation_passes(clean: Path) -> None:
    report = validate_sources(clean)
    assert report.ok, report.format()
    assert set(report.rows) == {
        "customer_profile",
        "support_history",
        "engagement",
        "tickets",
        "engagement_daily",
        "decisions",
        "conversation_state",
    }
    check_sources(clean)
    assert main(["validate", "--data-dir", str(clean)]) == 0


def test_wrong_dtype(data: Path) -> None:
    values = [str(v) for v in _column(data, "customer_profile", "monthly_spend")]
    _edit(data, "customer_profile", "monthly_spend", values)
    _single(data, "customer_profile", "monthly_spend", "dtype")


def test_out_of_range_counts_every_row_with_five_examples(data: Path) -> None:
    values = _column(data, "tickets", "sentiment")
    bad = list(range(0, 70, 10))
    for i in bad:
        values[i] = 1.5
    _edit(data, "tickets", "sentiment", values)
    _single(data, "tickets", "sentiment", "range")
    v = next(v for v in validate_sources(data).violations if v.column == "sentiment")
    assert v.count == len(bad) and v.examples == ["1.5"] * 5


def test_duplicate_key_sorted_and_unsorted(data: Path) -> None:
    path = data / "support_history.parquet"
    table = pq.read_table(path)
    pq.write_table(pa.concat_tables([table.slice(0, 5), table.slice(4)]), path)  # adjacent copy
    _single(data, "support_history", "customer_id+event_timestamp", "duplicate_key")
    pq.write_table(pa.concat_tables([table, table.slice(3, 2)]), path)  # copies at the end
    report = validate_sources(data)
    (v,) = [v for v in report.violations if v.rule == "duplicate_key"]
    assert v.count == 2 and v.table == "support_history"


def test_null_in_non_null_columns(data: Path) -> None:
    sessions = _column(data, "engagement", "sessions_28d")
    sessions[7] = None
    _edit(data, "engagement", "sessions_28d", pa.array(sessions, pa.int64()))
    message = _single(data, "engagement", "sessions_28d", "null")
    assert "customer_id=C0000001" in message  # null rows are shown by key
    minutes = _column(data, "engagement", "minutes_28d")
    minutes[3] = float("nan")  # NaN is a null too
    _edit(data, "engagement", "minutes_28d", minutes)
    assert any(
        v.column == "minutes_28d" and v.rule == "null" for v in validate_sources(data).violations
    )


def test_unknown_enum(data: Path) -> None:
    actions = _column(data, "decisions", "action")
    actions[0] = "free_pizza"
    _edit(data, "decisions", "action", actions)
    assert "'free_pizza'" in _single(data, "decisions", "action", "enum")


def test_naive_timestamps_and_missing_column(data: Path) -> None:
    path = data / "engagement.parquet"
    table = pq.read_table(path)
    naive = pc.cast(table["event_timestamp"], pa.timestamp("ns"))
    pq.write_table(
        table.set_column(1, "event_timestamp", naive).drop_columns(["active_days_28d"]), path
    )
    report = validate_sources(data)
    rules = {(v.column, v.rule) for v in report.violations if v.table == "engagement"}
    assert rules == {("event_timestamp", "dtype"), ("active_days_28d", "missing_column")}


def test_cross_column_rules(data: Path) -> None:
    turns = np.array(_column(data, "tickets", "turn_index"))
    _edit(data, "tickets", "turn_count", list(turns - 1))
    _single(data, "tickets", "turn_count", "less_than_turn_index")


def test_missing_tables(data: Path) -> None:
    optional = ["tickets", "engagement_daily", "decisions", "conversation_state"]
    for name in optional:
        (data / f"{name}.parquet").unlink(missing_ok=True)
    report = validate_sources(data)
    assert report.ok and report.absent == optional
    (data / "engagement.parquet").unlink()
    _single(data, "engagement", "*", "missing_table")
    assert main(["validate", "--data-dir", str(data)]) == 1
