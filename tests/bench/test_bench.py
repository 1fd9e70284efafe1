"""The bench: search and report logic on synthetic results, process cleanup, and one
end-to-end run of ``python -m bench --tiny`` (a few hundred customers, well
under a second per entry). Nothing here asserts how fast anything is."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import procs, profile
from bench.analysis import TARGETS, evaluate, ratios
from bench.docs import write_markdown
from bench.inprocess import STAGES
from bench.measure import selected, servers_of
from bench.profile import summarize
from bench.scenarios import ENTRIES
from bench.search import SearchSpec, find_max_rate
from modelio.logrecords import DECISIONS, read_log


def _entry(p50: int, p99: int | None = None, ok: int = 100) -> dict[str, Any]:
    p99 = p99 or p50 * 3
    curve = {str(p): p50 if p <= 50 else p99 for p in (0.0, 50.0, 90.0, 99.0, 99.9, 100.0)}
    return {
        "p50_us": p50,
        "p90_us": p50 * 2,
        "p99_us": p99,
        "p999_us": p99,
        "max_us": p99,
        "rps": 1000.0,
        "ok": ok,
        "error_count": 0,
        "errors": {},
        "curve": curve,
        "offered_rps": 300.0,
        "send_lag_p99_us": 50,
    }


def _results() -> dict[str, Any]:
    entries = {
        "echo": 400,
        "decide": 500,
        "batch100": 3000,
        "naive": 1000,
        "feast_batch100": 30000,
        "feast_listen": 800,
        "decide_nolog": 490,
        "decide_shadow": 560,
        "echo_full_c1": 300,
        "decide_c1": 580,
        "decide_traced": 520,
        "decide_conv": 540,
    }
    out: dict[str, Any] = {
        "entries": {name: _entry(p50) for name, p50 in entries.items()},
        "open_loop": {"echo": _entry(300, 900), "decide": _entry(450, 1500)},
        "max_rate": {
            "echo": {"max_rate_rps": 2000.0, "first_failing_rps": 2400.0, "steps": []},
            "decide": {
                "max_rate_rps": 1500.0,
                "first_failing_rps": None,
                "steps": [{"rate": 200.0, "passed": True, "p99_us": 900}],
            },
        },
        "config": {
            "customers": 300,
            "concurrency": 8,
            "processes": 1,
            "duration_s": 1.0,
            "warmup_s": 0.5,
            "open_rate": 300.0,
            "p99_limit_us": 10_000,
            "unknown_share": 0.1,
            "tiny": True,
        },
        "machine": {"command": "python -m bench --json x", "nproc": 2},
    }
    cpu = {
        "echo": 300.0,
        "decide": 400.0,
        "decide_nolog": 390.0,
        "decide_shadow": 480.0,
        "decide_traced": 440.0,
        "decide_conv": 420.0,
    }  # server µs per call
    for name, used in cpu.items():
        out["entries"][name]["server_cpu_us_per_call"] = used
    return out


def test_max_rate_search_brackets_the_limit_within_its_step_budget() -> None:
    calls: list[float] = []

    def measure(rate: float) -> dict[str, Any]:  # p99 grows with rate; limit hit at 1000
        calls.append(rate)
        return {"p99_us": int(rate * 10), "p50_us": 100, "ok": 10, "error_count": 0}

    spec = SearchSpec(p99_limit_us=10_000, start_rps=100, max_steps=12, retry_failures=False)
    found = find_max_rate(measure, spec)
    assert len(calls) <= 12
    assert found.max_rate_rps is not None and found.first_failing_rps is not None
    assert 900 <= found.max_rate_rps <= 1000 < found.first_failing_rps <= 1100
    assert [s["passed"] for s in found.steps[:4]] == [True, True, True, True]  # 100..800


def test_max_rate_search_goes_down_and_counts_errors_as_failures() -> None:
    def measure(rate: float) -> dict[str, Any]:
        return {"p99_us": 500, "p50_us": 100, "ok": 10, "error_count": int(rate > 60)}

    found = find_max_rate(measure, SearchSpec(start_rps=200, max_steps=4, retry_failures=False))
    assert [s["rate"] for s in found.steps] == [200.0, 100.0, 50.0, 70.7]
    assert found.max_rate_rps == 50.0 and found.first_failing_rps == 70.7


def test_max_rate_search_measures_a_failing_rate_twice() -> None:
    """A one-off burst (first run at 400) does not fail a rate; a real limit fails twice."""
    runs: list[float] = []

    def measure(rate: float) -> dict[str, Any]:
        runs.append(rate)
        noisy = runs.count(rate) == 1 and rate == 400
        p99 = 50_000 if noisy or rate > 1000 else 1000
        return {"p99_us": p99, "p50_us": 100, "ok": 10, "error_count": 0}

    found = find_max_rate(measure, SearchSpec(start_rps=200, max_steps=6, tolerance=0.5))
    assert runs == [200, 400, 400, 800, 1600, 1600]
    assert found.max_rate_rps == 800 and found.first_failing_rps == 1600


def test_ratios_and_targets() -> None:
    results = _results()
    values = ratios(results)
    assert values["decide_over_echo_p50"] == 1.25
    assert values["naive_over_decide_p50"] == 2.0
    assert values["batch100_over_feast_batch100_p50"] == 0.1
    assert values["max_rate_decide_over_echo"] == 0.75
    assert values["decide_open_p99_us"] == 1500.0
    assert values["decide_rps_log_over_nolog"] == 1.0  # both entries: 1,000 rps
    assert values["decide_p50_log_over_nolog"] == round(500 / 490, 3)
    assert values["decide_cpu_shadow_over_decide"] == 1.2  # 480 / 400 µs
    assert values["decide_cpu_log_over_nolog"] == round(400 / 390, 3)
    assert values["decide_minus_echo_full_c1_p50_us"] == 280  # 580 - 300 µs, one caller
    assert values["decide_cpu_over_echo_cpu"] == round(400 / 300, 3)
    assert values["decide_rps_shadow_over_decide"] == 1.0
    assert values["decide_cpu_traced_over_decide"] == 1.1  # 440 / 400 µs
    assert values["decide_rps_traced_over_decide"] == 1.0
    assert values["decide_conv_over_decide_p50"] == 1.08  # 540 / 500 µs
    assert values["decide_cpu_conv_over_decide"] == 1.05  # 420 / 400 µs
    targets = evaluate(results)
    assert [t["name"] for t in targets] == [t.name for t in TARGETS]
    assert all(t["met"] for t in targets)
    del results["entries"]["feast_listen"]
    missing = {t["name"]: t for t in evaluate(results)}["decide_over_feast_listen_p50"]
    assert missing["value"] is None and missing["met"] is False


def test_markdown_report(tmp_path: Path) -> None:
    results = _results()
    results["targets"] = evaluate(results)
    results["profile"] = summarize("a (x.py:1);b (y.py:2) 3\na (x.py:1) 1\n")
    results["profile"]["duration_s"] = 2.0
    text = write_markdown(results, tmp_path / "p.md", "p.png").read_text()
    for needle in (
        "| `decide` |",
        "![latency per entry](p.png)",
        "python -m bench",
        "Open loop at 300 rps",
        "| 75.0% | `b (y.py)` |",
        "| `decide_traced` |",
        "costs 40 µs of server CPU per Decide (440 vs 400, 1.1 x)",
        "| `decide_conv` |",
        "decide p50 is 1.08 x `decide`'s, server CPU per Decide 1.05 x",
    ):
        assert needle in text


def test_server_env_flags() -> None:
    from bench.__main__ import server_env

    assert server_env(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(SystemExit):
        server_env(["NOVALUE"])


def test_process_group_stops_children_on_error(tmp_path: Path) -> None:
    group = procs.ProcessGroup(tmp_path)
    with pytest.raises(KeyboardInterrupt), group:
        child = group.start("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
        raise KeyboardInterrupt
    assert not child.alive() and group.children == []


@pytest.mark.redis
def test_bench_tiny_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_dir: Path
) -> None:
    """The whole command on 300 customers, reusing the session's small model version."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    from bench.__main__ import main

    started: list[procs.Child] = []
    original = procs.ProcessGroup.start

    def tracking(self: procs.ProcessGroup, *args: Any, **kwargs: Any) -> procs.Child:
        child = original(self, *args, **kwargs)
        started.append(child)
        return child

    monkeypatch.setattr(procs.ProcessGroup, "start", tracking)
    out, doc, png = tmp_path / "b.json", tmp_path / "perf.md", tmp_path / "perf.png"
    assert (
        main(
            [
                "--json",
                str(out),
                "--tiny",
                "--doc",
                str(doc),
                "--plot",
                str(png),
                "--models-dir",
                str(model_dir),
                "--workdir",
                str(tmp_path / "work"),
            ]
        )
        == 0
    )

    servers = {
        "redis",
        "echo",
        "echo_full",
        "echo_aio",
        "transport",
        "decide",
        "naive",
        "feast_listen",
        "decide_2w",
        "decide_nolog",
        "decide_shadow",
        "decide_traced",
    }
    assert {c.name for c in started} == servers | {"simulate", "materialize"}
    assert not any(c.alive() for c in started)  # every child stopped
    results = json.loads(out.read_text())
    for entry in ENTRIES:
        row = results["entries"][entry.name]
        assert row["ok"] > 0, entry.name
        assert row["p50_us"] <= row["p90_us"] <= row["p99_us"] <= row["max_us"]
        assert isinstance(row["error_count"], int) and row["rps"] > 0
        assert row["server_cpu_us_per_call"] > 0, entry.name
    for name in ("decide", "batch100", "naive", "feast_batch100", "decide_2w"):  # inspected
        assert results["entries"][name]["decisions_sampled"] > 0, name
    assert results["entries"]["decide_shadow"]["server_cpu_us_per_call"] > 0
    arms = read_log(tmp_path / "work" / "decision-logs" / "decide_shadow", DECISIONS)["arm"]
    assert {"main", "shadow:test-v1"} <= set(arms.to_pylist())  # served and shadow rows
    assert results["entries"]["echo"]["personalized_share"] == 0.0  # empty responses
    assert results["entries"]["echo_full"]["personalized_share"] == 1.0  # the canned answer
    assert results["entries"]["echo_full_c1"]["ok"] > 0 and results["entries"]["echo_aio"]["ok"]
    assert set(results["open_loop"]) == set(results["max_rate"]) == {"echo", "transport", "decide"}
    assert all(1 <= len(r["steps"]) <= 2 for r in results["max_rate"].values())
    assert len(results["targets"]) == len(TARGETS)
    assert results["machine"]["nproc"] and results["machine"]["grpcio"]
    text = doc.read_text()
    assert "| `feast_listen` |" in text and "--tiny" in text
    assert "With `--workers 2` (`decide_2w`" in text
    assert "`transport` p50 / `echo` p50 is" in text and "the floor under the decide" in text
    assert "CPU per call, server + client, on " in text and "calls/s." in text
    assert "Tracing on (`decide_traced`" in text and "µs of server CPU per Decide" in text
    transport = results["entries"]["transport"]
    assert transport["decisions_sampled"] > 0 and transport["personalized_share"] == 0.0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    section = results["inprocess"]
    assert set(section["stages"]) == set(STAGES)
    for figures in (*section["stages"].values(), section["decide"], section["batch100_per_turn"]):
        assert figures["wall_us"] > 0 and figures["cpu_us"] > 0
    assert "## In process, stage by stage" in text and "| `models` |" in text
    flow = section["inflow"]
    assert set(STAGES) | {"log_submit", "engine glue"} == set(flow["stages"])
    # In flow, the stages and what is between them add up to the whole decision.
    total = sum(s["cpu_us"] for s in flow["stages"].values())
    assert abs(total - flow["whole"]["cpu_us"]) < 1.0
    assert all(flow["stages"][n]["cpu_us"] > 0 for n in STAGES) and flow["writer_cpu_us"] >= 0
    cold = section["inflow_cold"]
    assert set(cold["stages"]) == set(flow["stages"]) and cold["whole"]["cpu_us"] > 0
    assert "| in flow wall µs | in flow CPU µs | cold wall µs | cold CPU µs |" in text


def test_quick_and_entries_pick_the_entries_and_their_servers() -> None:
    from bench.__main__ import parser
    from bench.presets import QUICK_ENTRIES, measure_config

    quick = measure_config(parser().parse_args(["--json", "x", "--quick"]), Path("."))
    assert quick.entries == QUICK_ENTRIES and not quick.open_loop and quick.rounds == 3
    assert servers_of(quick) == (
        "echo",
        "echo_full",
        "transport",
        "decide",
        "decide_nolog",
        "decide_shadow",
    )
    assert [e.name for e in selected(quick)] == [e.name for e in ENTRIES if e.name in QUICK_ENTRIES]
    picked = measure_config(
        parser().parse_args(["--json", "x", "--entries", "decide,feast_batch100"]), Path(".")
    )
    assert servers_of(picked) == ("decide", "naive") and picked.open_loop
    full = measure_config(parser().parse_args(["--json", "x"]), Path("."))
    assert [e.name for e in selected(full)] == [e.name for e in ENTRIES]


def test_py_spy_is_found_beside_the_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "")  # an un-activated venv: its bin/ is not on PATH
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    assert profile.executable() is None and not profile.available()
    (tmp_path / "py-spy").write_text("")
    assert profile.executable() == str(tmp_path / "py-spy") and profile.available()


def test_metrics_cost_measures_every_variant(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.metrics_cost import main as metrics_cost
    from server import tracing

    assert metrics_cost(["--rounds", "1", "--calls", "20"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10 and all(" µs  " in line for line in lines)
    assert lines[-1].endswith("added to a lone Decide (metrics now - before, + RPC, read, spans)")
    assert not tracing.enabled()  # left off


def test_conversation_entries_send_conversations_of_the_workload() -> None:
    """``decide_conv``'s load: every Decide sent is a turn of a conversation, the same
    mix as ``decide`` otherwise; ``decide_conv_long``'s conversations have 30 turns."""
    from loadgen.workload import Workload, build_pool
    from personalization.v1 import personalization_pb2 as pb

    entries = {e.name: e for e in ENTRIES}
    conv, long = entries["decide_conv"], entries["decide_conv_long"]
    assert conv.server == long.server == "decide" and conv.conversations > 0
    assert conv.conversation_turns == 0 and long.conversation_turns == 30
    work = Workload(known_ids=("C1", "C2"), pool_size=300, conversations=conv.conversations)
    pool = build_pool(work)
    turns = [pb.DecideRequest.FromString(pool.payload(i)) for i in range(len(pool))]
    assert all(t.conversation_id for t in turns)
    plain = build_pool(Workload(known_ids=("C1", "C2")))
    assert not any(pb.DecideRequest.FromString(b).HasField("conversation_id") for b in plain)
