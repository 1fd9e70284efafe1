"""log-retention deletes only whole day partitions older than N days (and trims the
streams before the first kept day); anything that is not a day partition stays."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelio.logrecords import DECISIONS, OUTCOMES, read_log
from tests.support.decision_logs import decision, outcome, write_part
from tests.support.redis_server import start_redis
from training.commands import log_retention
from training.feedback.streams import connect

NOW = "2026-03-10T08:00:00+00:00"


def _logs(log_dir: Path) -> None:
    for day in range(1, 11):
        ts = datetime(2026, 3, day, 12, tzinfo=UTC)
        write_part(log_dir, DECISIONS, [decision(f"d{day}", ts=ts)], "part")
        write_part(log_dir, OUTCOMES, [outcome(f"d{day}", ts)], "part")
    (log_dir / DECISIONS / "date=garbage").mkdir()
    (log_dir / DECISIONS / "notes").mkdir()


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    parser = argparse.ArgumentParser()
    log_retention.configure(parser)
    code = log_retention.run(parser.parse_args([*argv, "--now", NOW, "--json"]))
    out = capsys.readouterr().out
    return code, json.loads(out) if out else {}


def test_deletes_only_old_partitions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _logs(tmp_path)
    code, report = _run(["--log-dir", str(tmp_path), "--days", "3", "--dry-run"], capsys)
    assert code == 0 and len(report["partitions"]) == 12
    assert read_log(tmp_path, DECISIONS).num_rows == 10  # dry run: nothing deleted
    code, report = _run(["--log-dir", str(tmp_path), "--days", "3"], capsys)
    assert code == 0 and report["first_kept_day"] == "2026-03-07"
    deleted = {Path(p["path"]).name for p in report["partitions"]}
    assert deleted == {f"date=2026-03-0{d}" for d in range(1, 7)}
    kept = sorted(read_log(tmp_path, DECISIONS).column("decision_id").to_pylist())
    assert kept == ["d10", "d7", "d8", "d9"]
    assert read_log(tmp_path, OUTCOMES).num_rows == 4
    assert (tmp_path / DECISIONS / "date=garbage").is_dir()
    assert (tmp_path / DECISIONS / "notes").is_dir()
    code, report = _run(["--log-dir", str(tmp_path), "--days", "3"], capsys)
    assert code == 0 and report["partitions"] == []  # idempotent


def test_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["--log-dir", str(tmp_path / "none"), "--days", "3"], capsys)[0] == 2
    assert _run(["--log-dir", str(tmp_path), "--days", "-1"], capsys)[0] == 2


@pytest.mark.redis
def test_trims_streams_by_minid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = start_redis(tmp_path)
    try:
        client = connect(server.address)
        for day in range(1, 11):
            ms = int(datetime(2026, 3, day, 12, tzinfo=UTC).timestamp() * 1000)
            client.xadd("personalization:decisions", {"row": "{}"}, id=f"{ms}-0")
        client.xadd("personalization:outcomes:dead", {"row": "x"}, id="1000-0")
        (tmp_path / "logs").mkdir()
        argv = ["--log-dir", str(tmp_path / "logs"), "--days", "3", "--redis", server.address]
        code, report = _run(argv, capsys)
        assert code == 0
        assert report["streams"]["personalization:decisions"] == 6
        assert report["streams"]["personalization:outcomes:dead"] == 1
        first = client.xrange("personalization:decisions", count=1)[0][0].decode()
        first_ts = datetime.fromtimestamp(int(first.split("-")[0]) / 1000, UTC)
        assert first_ts - datetime(2026, 3, 7, tzinfo=UTC) == timedelta(hours=12)
    finally:
        server.stop()
