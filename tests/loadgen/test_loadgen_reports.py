"""The load generator's reports: the ghz-format JSON (fields, units and counts that agree),
the per-interval time series under a step profile, and its PNG.

The server is a CountingServer on 127.0.0.1 failing every tenth call; the run is 300
calls over 1.5 s at constant arrivals, so every count below is exact."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import grpc
import pytest

from loadgen.__main__ import main as loadgen_main
from loadgen.ghz import go_status
from tests.support.counting_server import CountingServer

GHZ_FIELDS = {
    "date",
    "endReason",
    "options",
    "count",
    "total",
    "average",
    "fastest",
    "slowest",
    "rps",
    "errorDistribution",
    "statusCodeDistribution",
    "latencyDistribution",
    "histogram",
    "details",
}


@pytest.fixture(scope="module")
def step_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict, dict, Path]:
    server = CountingServer(lambda n: grpc.StatusCode.UNAVAILABLE if n % 10 == 0 else None)
    server.server.start()
    out = tmp_path_factory.mktemp("reports")
    try:
        code = loadgen_main(
            [
                *("--target", server.target, "--profile", "step:100:300:100:0.5s"),
                *("--arrival", "constant", "--duration", "1.5", "--warmup", "0"),
                *("--interval", "0.5", "--known-count", "20"),
                *("--json", str(out / "native.json"), "--ghz-json", str(out / "ghz.json")),
                *("--plot", str(out / "series.png")),
            ]
        )
    finally:
        server.server.stop(0).wait()
    native = json.loads((out / "native.json").read_text())
    ghz = json.loads((out / "ghz.json").read_text())
    return code, native, ghz, out / "series.png"


def test_step_profile_shows_in_the_time_series(step_run: tuple[int, dict, dict, Path]) -> None:
    code, native, _, png = step_run
    assert code == 1  # some calls failed
    rows = native["intervals"]
    assert [r["t_s"] for r in rows] == [0.0, 0.5, 1.0]
    assert [r["offered_rps"] for r in rows] == [100.0, 200.0, 300.0]
    assert sum(r["ok"] for r in rows) == native["ok"] == 270
    assert sum(r["error_count"] for r in rows) == native["error_count"] == 30
    assert all(r["p50_us"] <= r["p99_us"] <= r["max_us"] for r in rows)
    assert native["profile"] == "step:100:300:100:0.5s" and "details" not in native
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ghz_report_has_ghz_fields_units_and_consistent_counts(
    step_run: tuple[int, dict, dict, Path],
) -> None:
    _, native, ghz, _ = step_run
    assert set(ghz) >= GHZ_FIELDS
    datetime.fromisoformat(ghz["date"])  # RFC 3339
    assert ghz["endReason"] == "timeout"
    assert ghz["options"]["call"] == "personalization.v1.PersonalizationService.Decide"
    assert ghz["options"]["host"] == native["target"] and ghz["options"]["insecure"] is True
    assert ghz["count"] == 300 == sum(ghz["statusCodeDistribution"].values()) == len(ghz["details"])
    assert ghz["statusCodeDistribution"] == {"OK": 270, "Unavailable": 30}
    assert sum(ghz["errorDistribution"].values()) == 30
    assert all(
        e.startswith("rpc error: code = Unavailable desc = call ") for e in ghz["errorDistribution"]
    )
    assert ghz["total"] == 1_500_000_000 and ghz["rps"] == pytest.approx(200.0)
    # nanoseconds: ghz's p50 is the native p50 (µs) times 1000
    lat = {d["percentage"]: d["latency"] for d in ghz["latencyDistribution"]}
    assert list(lat) == [10, 25, 50, 75, 90, 95, 99] and lat[50] == native["p50_us"] * 1000
    assert ghz["fastest"] <= lat[10] <= lat[50] <= lat[99] <= ghz["slowest"]
    assert ghz["slowest"] == native["max_us"] * 1000
    marks = [b["mark"] for b in ghz["histogram"]]
    assert len(marks) == 11 and marks == sorted(marks)
    assert marks[0] == ghz["fastest"] / 1e9 and marks[-1] == ghz["slowest"] / 1e9
    assert sum(b["count"] for b in ghz["histogram"]) == 270
    assert sum(b["frequency"] for b in ghz["histogram"]) == pytest.approx(1.0)
    details = ghz["details"]
    assert sum(d["status"] == "OK" for d in details) == 270
    assert all((d["error"] == "") == (d["status"] == "OK") for d in details)
    assert all(d["latency"] > 0 for d in details if d["status"] == "OK")
    stamps = [datetime.fromisoformat(d["timestamp"]) for d in details]
    assert stamps == sorted(stamps) and (stamps[-1] - stamps[0]).total_seconds() < 1.5
    assert [r["offered_rps"] for r in ghz["intervals"]] == [100.0, 200.0, 300.0]


def test_status_names_are_grpc_go_s() -> None:
    names = {c.name: go_status(c.name) for c in grpc.StatusCode}
    assert names["DEADLINE_EXCEEDED"] == "DeadlineExceeded" and names["OK"] == "OK"
    assert names["CANCELLED"] == "Canceled" and names["UNAUTHENTICATED"] == "Unauthenticated"
    assert names["RESOURCE_EXHAUSTED"] == "ResourceExhausted"


def test_closed_loop_series_and_two_targets(
    serve: Callable[..., CountingServer], tmp_path: Path
) -> None:
    a, b = serve(), serve(lambda n: grpc.StatusCode.INTERNAL if n % 2 else None)
    out = tmp_path / "r.json"
    code = loadgen_main(
        [
            *("--target", a.target, "--target", b.target, "--mode", "closed"),
            *("--concurrency", "2", "--duration", "0.6", "--warmup", "0", "--interval", "0.2"),
            *("--json", str(out)),
        ]
    )
    result = json.loads(out.read_text())
    assert code == 1 and len(result["intervals"]) == 3
    per = result["targets"]
    assert per[a.target]["error_count"] == 0 and per[a.target]["ok"] > 0
    assert per[b.target]["errors"] == {"INTERNAL": per[b.target]["error_count"]}
    assert per[a.target]["ok"] + per[b.target]["ok"] == result["ok"]
    assert abs(a.calls - b.calls) <= 2  # round-robin
