"""drain-log against a private redis-server: entries drained to parquet equal the rows,
malformed entries go to the dead stream, nothing is acked before the part is durable,
and a drain killed between write and ack loses nothing when re-run."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from modelio.logrecords import DECISIONS, OUTCOMES, read_log, to_stream_entry
from modelio.reward import RewardConfig
from tests.support.decision_logs import T0, decision, outcome
from tests.support.redis_server import RedisServer, start_redis
from training.commands import drain_log
from training.feedback.drain import drain_kind
from training.feedback.join import join_logs
from training.feedback.streams import connect

pytestmark = pytest.mark.redis
PREFIX = "test"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path)
    yield server
    server.stop()


def _fill(client: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    # Two days of decisions, then two malformed entries at the end of the stream.
    decisions = [
        decision(f"d{i}", ts=T0 + timedelta(hours=10 * i), customer_id=f"C{i}") for i in range(5)
    ]
    outcomes = [outcome(f"d{i}", T0 + timedelta(hours=10 * i, minutes=3)) for i in range(3)]
    for row in decisions:
        client.xadd(f"{PREFIX}:decisions", to_stream_entry(row))
    client.xadd(f"{PREFIX}:decisions", {"row": "{not json"})
    client.xadd(f"{PREFIX}:decisions", {"other": "field"})
    for row in outcomes:
        client.xadd(f"{PREFIX}:outcomes", to_stream_entry(row))
    return decisions, outcomes


def _unique(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        out.setdefault(row["decision_id"], row)
    return out


def test_drain_command(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = connect(redis_server.address)
    decisions, outcomes = _fill(client)
    parser = argparse.ArgumentParser()
    drain_log.configure(parser)
    logs = tmp_path / "logs"
    argv = ["--redis", redis_server.address, "--stream-prefix", PREFIX, "--log-dir", str(logs)]
    assert drain_log.run(parser.parse_args([*argv, "--json", "--batch", "4"])) == 0
    report = json.loads(capsys.readouterr().out)
    assert report[DECISIONS] == {"read": 7, "rows": 5, "dead": 2, "parts": 3}
    assert report[OUTCOMES]["rows"] == 3
    assert read_log(logs, DECISIONS).to_pylist() == decisions  # in stream order
    assert read_log(logs, OUTCOMES).to_pylist() == outcomes
    days = sorted(p.name for p in (logs / DECISIONS).iterdir())
    assert days == ["date=2026-03-02", "date=2026-03-03", "date=2026-03-04"]
    dead = client.xrange(f"{PREFIX}:decisions:dead")
    reasons = [f[b"dead_reason"].decode() for _, f in dead]
    assert reasons[0].startswith("JSONDecodeError") and reasons[1] == "no 'row' field"
    assert dead[0][1][b"row"] == b"{not json"  # the original fields are kept
    pending = client.xpending(f"{PREFIX}:decisions", "drain")
    assert pending["pending"] == 0
    # Re-running drains nothing new.
    assert drain_log.run(parser.parse_args([*argv, "--json"])) == 0
    assert json.loads(capsys.readouterr().out)[DECISIONS]["read"] == 0


class Crash(RuntimeError):
    pass


def test_crash_between_write_and_ack_loses_nothing(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = connect(redis_server.address)
    decisions, _ = _fill(client)
    logs, stream = tmp_path / "logs", f"{PREFIX}:decisions"
    written: list[Path] = []

    def crash(parts: list[Path]) -> None:
        written.extend(parts)
        assert all(p.is_file() for p in parts)  # durable before the ack...
        assert client.xpending(stream, "drain")["pending"] == 3  # ...and nothing acked yet
        raise Crash

    with pytest.raises(Crash):
        drain_kind(client, PREFIX, DECISIONS, logs, "drain", "c1", batch=3, before_ack=crash)
    assert written and client.xpending(stream, "drain")["pending"] == 3
    # Re-drain with other batch boundaries: the three pending rows land in new parts too.
    stats = drain_kind(client, PREFIX, DECISIONS, logs, "drain", "c1", batch=2)
    assert (stats.read, stats.rows, stats.dead) == (7, 5, 2)
    assert client.xpending(stream, "drain")["pending"] == 0
    rows = read_log(logs, DECISIONS)
    assert rows.num_rows == 8  # 3 duplicated rows from the crashed run's part
    assert list(_unique(rows.to_pylist()).values()) == decisions
    result = join_logs(rows, read_log(logs, OUTCOMES), lambda _: RewardConfig(), T0)
    assert result.counts.decisions == 5 and result.counts.duplicate_decisions == 3


def test_claims_entries_of_a_crashed_consumer(redis_server: RedisServer, tmp_path: Path) -> None:
    client = connect(redis_server.address)
    decisions, _ = _fill(client)

    def crash(parts: list[Path]) -> None:
        raise Crash

    with pytest.raises(Crash):
        drain_kind(client, PREFIX, DECISIONS, tmp_path, "drain", "gone", batch=3, before_ack=crash)
    stats = drain_kind(client, PREFIX, DECISIONS, tmp_path, "drain", "new", claim_idle_s=0)
    assert stats.read == 7
    assert list(_unique(read_log(tmp_path, DECISIONS).to_pylist()).values()) == decisions
    assert client.xpending(f"{PREFIX}:decisions", "drain")["pending"] == 0


def test_unreachable_redis_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    drain_log.configure(parser)
    args = parser.parse_args(["--redis", "127.0.0.1:1", "--log-dir", str(tmp_path)])
    assert drain_log.run(args) == 1
    assert "cannot reach Redis" in capsys.readouterr().err
