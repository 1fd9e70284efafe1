"""forget removes a customer's decisions from the parquet decision logs and the log
streams, and the outcomes of those decisions; other customers are untouched."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.prepare import copy_repo
from modelio.logrecords import DECISIONS, OUTCOMES, read_log, to_stream_entry
from tests.support.decision_logs import T0, decision, outcome, write_part
from tests.support.redis_server import RedisServer, start_redis
from training.commands import forget
from training.erasure.decision_logs import erase_logs
from training.feedback.streams import connect

pytestmark = pytest.mark.redis
GONE, KEPT = "C0000042", "C00000421"  # a prefix of another id must not match it


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path)
    yield server
    server.stop()


def _rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    decisions = [
        decision(f"d{i}", ts=T0 + timedelta(minutes=i), customer_id=GONE if i % 2 else KEPT)
        for i in range(6)
    ]
    outcomes = [outcome(f"d{i}", T0 + timedelta(minutes=i + 1)) for i in range(6)]
    return decisions, outcomes


def _fill(log_dir: Path, client: Any) -> None:
    decisions, outcomes = _rows()
    write_part(log_dir, DECISIONS, decisions[:3], "a")
    write_part(log_dir, DECISIONS, decisions[3:], "b")
    write_part(log_dir, OUTCOMES, outcomes, "a")
    # The streams hold d0-d5 too, plus one stream-only decision of GONE and its outcome.
    extra = decision("s1", customer_id=GONE)
    for row in [*decisions, extra]:
        client.xadd("personalization:decisions", to_stream_entry(row))
    for row in [*outcomes, outcome("s1", T0)]:
        client.xadd("personalization:outcomes", to_stream_entry(row))
    client.xadd("personalization:decisions:dead", {"row": f'{{"customer_id":"{GONE}"', "x": "1"})
    client.xadd("personalization:decisions:dead", {"row": "junk"})


def _stream_ids(client: Any, stream: str, key: str) -> list[str]:
    return [json.loads(f[b"row"])[key] for _, f in client.xrange(stream)]


def test_erase_logs(tmp_path: Path, redis_server: RedisServer) -> None:
    client = connect(redis_server.address)
    _fill(tmp_path, client)
    outcomes = {o.place: o for o in erase_logs(tmp_path, client, "personalization", [GONE])}
    assert outcomes[str(tmp_path / DECISIONS)].removed == {GONE: 3}
    assert outcomes[str(tmp_path / OUTCOMES)].removed == {GONE: 3}
    assert outcomes["redis personalization:decisions"].removed == {GONE: 4}
    assert outcomes["redis personalization:outcomes"].removed == {GONE: 4}
    assert outcomes["redis personalization:decisions:dead"].removed == {GONE: 1}
    assert not any(o.error for o in outcomes.values())
    kept = ["d0", "d2", "d4"]
    assert read_log(tmp_path, DECISIONS).column("decision_id").to_pylist() == kept
    assert read_log(tmp_path, OUTCOMES).column("decision_id").to_pylist() == kept
    assert set(read_log(tmp_path, DECISIONS).column("customer_id").to_pylist()) == {KEPT}
    assert _stream_ids(client, "personalization:decisions", "decision_id") == kept
    assert _stream_ids(client, "personalization:outcomes", "decision_id") == kept
    assert client.xlen("personalization:decisions:dead") == 1
    again = erase_logs(tmp_path, client, "personalization", [GONE])
    assert sum(o.count(GONE) for o in again) == 0  # idempotent


def test_forget_command_records_log_counts(
    tmp_path: Path, redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = copy_repo(tmp_path / "feature_repo")
    (repo / "data").mkdir(exist_ok=True)
    logs = tmp_path / "logs"
    _fill(logs, connect(redis_server.address))
    parser = argparse.ArgumentParser()
    forget.configure(parser)
    record = tmp_path / "erasures.jsonl"
    argv = [GONE, "--repo", str(repo), "--log-dir", str(logs), "--redis", redis_server.address]
    code = forget.run(parser.parse_args([*argv, "--record", str(record), "--no-verify"]))
    out = capsys.readouterr().out
    line = json.loads(record.read_text().splitlines()[-1])
    assert line["removed"]["logs"] == {
        str(logs / DECISIONS): 3,
        str(logs / OUTCOMES): 3,
        "redis personalization:decisions": 4,
        "redis personalization:outcomes": 4,
        "redis personalization:decisions:dead": 1,
    }, out
    assert code == 0, out
    assert read_log(logs, DECISIONS).num_rows == 3
