"""The load generator against a server: closed and open loops, the aio sender, errors counted
by status code, latency from the scheduled time, the batch pool and the CLI's JSON.

Servers here are tiny in-process gRPC servers on 127.0.0.1 with raw-bytes handlers;
runs are bounded by request count or by a duration under two seconds. No assertion
depends on how fast anything is: latency bounds below come from deliberate sleeps."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from loadgen.__main__ import main as loadgen_main
from loadgen.report import describe, table
from loadgen.runner import LoadConfig, run_load
from tests.support.counting_server import CountingServer


def _fails(n: int) -> grpc.StatusCode | None:
    if n % 5 == 0:
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if n % 7 == 0:
        return grpc.StatusCode.INVALID_ARGUMENT
    return None


def test_closed_loop_counts_errors_by_status_code(serve: Callable[..., CountingServer]) -> None:
    server = serve(_fails)
    cfg = LoadConfig(
        target=server.target,
        mode="closed",
        concurrency=1,
        duration_s=30.0,
        warmup_s=0.0,
        max_requests=350,
    )
    result = run_load(cfg)
    assert server.calls == 350
    assert result["errors"] == {"INVALID_ARGUMENT": 40, "RESOURCE_EXHAUSTED": 70}
    assert (result["ok"], result["error_count"], result["sent"]) == (240, 110, 350)


def test_open_loop_counts_errors_and_merges_two_processes(
    serve: Callable[..., CountingServer],
) -> None:
    server = serve(lambda n: grpc.StatusCode.UNAVAILABLE if n % 4 == 0 else None)
    cfg = LoadConfig(
        target=server.target,
        mode="open",
        rate=200.0,
        arrival="constant",
        duration_s=1.0,
        warmup_s=0.0,
        processes=2,
    )
    result = run_load(cfg)
    assert server.calls == 200 == result["sent"]
    assert result["errors"] == {"UNAVAILABLE": 50}
    assert result["ok"] == 150 and result["processes"] == 2


def test_aio_sender_counts_errors(serve: Callable[..., CountingServer]) -> None:
    server = serve(lambda n: grpc.StatusCode.DEADLINE_EXCEEDED if n % 10 == 0 else None)
    cfg = LoadConfig(
        target=server.target,
        mode="open",
        rate=100.0,
        arrival="constant",
        duration_s=1.0,
        warmup_s=0.0,
        sender="aio",
    )
    result = run_load(cfg)
    assert server.calls == 100 == result["sent"]
    assert result["errors"] == {"DEADLINE_EXCEEDED": 10} and result["ok"] == 90
    assert result["sender"] == "aio" and result["client_cpu_us_per_call"] > 0


def test_open_loop_latency_counts_from_the_scheduled_time(
    serve: Callable[..., CountingServer],
) -> None:
    """One 150 ms stall of a single-threaded server delays every call queued behind it."""

    def stall(n: int) -> None:
        if n == 20:
            time.sleep(0.15)

    server = serve(stall, workers=1)
    common: dict[str, Any] = {"target": server.target, "duration_s": 1.0, "warmup_s": 0.0}
    opened = run_load(LoadConfig(mode="open", rate=100.0, arrival="constant", **common))
    assert opened["ok"] == 100
    # calls scheduled during the stall waited 10..140 ms: about 14 of 100 are >= 10 ms
    assert opened["p90_us"] >= 10_000 and opened["max_us"] >= 140_000


def test_batch_pool_and_cli_json(serve: Callable[..., CountingServer], tmp_path: Path) -> None:
    server = serve()
    out = tmp_path / "r.json"
    code = loadgen_main(
        [
            "--target",
            server.target,
            "--mode",
            "closed",
            "--concurrency",
            "2",
            "--duration",
            "0.3",
            "--warmup",
            "0",
            "--rpc",
            "batch",
            "--batch-size",
            "10",
            "--known-count",
            "50",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    result = json.loads(out.read_text())
    assert result["rpc"] == "batch" and result["batch_size"] == 10 and result["ok"] > 0
    assert result["items_per_s"] == pytest.approx(result["rps"] * 10, rel=0.01)
    assert "batch against" in describe(result) and "p99 µs" in table([result])
