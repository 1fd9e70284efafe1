"""Write docs/performance.md from a bench result (the whole page is generated)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.analysis import breakdown
from bench.inprocess import inprocess_markdown
from bench.notes import ENTRY_NOTES
from bench.scenarios import ENTRIES
from loadgen.report import table

COLUMNS = (
    ("name", "entry"),
    ("rps", "rps"),
    ("p50_us", "p50 µs"),
    ("p90_us", "p90 µs"),
    ("p99_us", "p99 µs"),
    ("max_us", "max µs"),
    ("error_count", "errors"),
    ("personalized_share", "personalized"),
    ("degraded_share", "degraded"),
    ("client_cpu_us_per_call", "client CPU µs/call"),
    ("server_cpu_us_per_call", "server CPU µs/call"),
    ("loadavg_1m", "load avg"),
)


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _cell(row: dict[str, Any], key: str) -> str:
    if key.endswith("_share"):
        return f"{row[key]:.1%}" if row.get(key) is not None else "-"
    if key == "error_count" and row.get("errors"):
        codes = ", ".join(f"{code} {n:,}" for code, n in row["errors"].items())
        return f"{row[key]:,} ({codes})"
    return _fmt(row.get(key))


def _entries(results: dict[str, Any]) -> list[str]:
    rows = []
    for entry in ENTRIES:
        r = results["entries"].get(entry.name)
        if r is None:
            blanks = [""] * (len(COLUMNS) - 2)
            rows.append([entry.name, "not run", *blanks, ENTRY_NOTES[entry.name]])
            continue
        cells = [_cell(r, key) for key, _ in COLUMNS[1:]]
        rows.append([f"`{entry.name}`", *cells, ENTRY_NOTES[entry.name]])
    return _md_table([*(label for _, label in COLUMNS), "what"], rows)


def _open_loop(results: dict[str, Any]) -> list[str]:
    rows = []
    for name, r in results.get("open_loop", {}).items():
        rows.append(
            [
                f"`{name}`",
                _fmt(r["offered_rps"]),
                _fmt(r["p50_us"]),
                _fmt(r["p90_us"]),
                _fmt(r["p99_us"]),
                _fmt(r["max_us"]),
                _fmt(r["error_count"]),
                _fmt(r["send_lag_p99_us"]),
            ]
        )
    header = [
        "server",
        "offered rps",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "max µs",
        "errors",
        "client send lag p99 µs",
    ]
    return _md_table(header, rows)


def _max_rate(results: dict[str, Any]) -> list[str]:
    rows = []
    for name, r in results.get("max_rate", {}).items():
        steps = ", ".join(
            f"{s['rate']:g}{'✓' if s['passed'] else '✗'}({s['p99_us']})" for s in r["steps"]
        )
        rows.append([f"`{name}`", _fmt(r["max_rate_rps"]), _fmt(r["first_failing_rps"]), steps])
    return _md_table(["server", "max rps", "first failing rps", "steps: rate ✓/✗ (p99 µs)"], rows)


def _targets(targets: list[dict[str, Any]]) -> list[str]:
    rows = [
        [t["description"], _fmt(t["value"]), t["target"], "met" if t["met"] else "**not met**"]
        for t in targets
    ]
    return _md_table(["measure", "value", "target", ""], rows)


def _machine(meta: dict[str, Any]) -> list[str]:
    rows = [[k, f"`{v}`" if k == "command" else _fmt(v)] for k, v in meta.items()]
    return _md_table(["", ""], rows)


def _profile(profile: dict[str, Any] | None) -> list[str]:
    if not profile:
        return ["Not profiled in this run (`--profile` needs `py-spy`)."]
    lines = [
        f"py-spy sampled the `decide` server for {profile['duration_s']:g} s under the "
        f"same closed-loop load, in an extra unmeasured run: {profile['samples']:,} samples "
        "of the thread holding the GIL (`py-spy record --gil`), i.e. where the server's "
        "Python CPU time goes. Waiting on Redis or in onnxruntime with the GIL released "
        "does not show."
    ]
    for title, key in (("Self time", "self"), ("Including callees", "inclusive")):
        lines += ["", f"{title}:", ""]
        lines += _md_table(["share", "function"], [[f"{s:.1%}", f"`{f}`"] for f, s in profile[key]])
    return lines


def meta_cores(results: dict[str, Any]) -> int:
    """Cores of the machine the results come from."""
    return int(results.get("machine", {}).get("nproc") or 1)


def _env_note(cfg: dict[str, Any]) -> list[str]:
    env = cfg.get("decide_env") or {}
    if not env:
        return []
    pairs = ", ".join(f"`{k}={v}`" for k, v in sorted(env.items()))
    return [f"The decide server ran with {pairs} (`--server-env`).", ""]


def _busy_warning(meta: dict[str, Any]) -> list[str]:
    """A warning when other work was running when the bench started."""
    cores = meta.get("nproc") or 1
    load = meta.get("loadavg_1m_at_start", 0.0)
    if load <= cores / 2:
        return []
    return [
        f"**Warning: the machine was busy**: the 1-minute load average was {load:g} on "
        f"{cores} cores before the bench started anything. Other processes competed for the "
        "CPUs, so latencies, tails above all, are inflated and noisy.",
        "",
    ]


def write_markdown(results: dict[str, Any], dest: Path, plot_name: str) -> Path:
    """Render the whole page into ``dest``."""
    cfg = results["config"]
    lines = [
        "# Performance",
        "",
        "Generated by `python -m bench`; do not edit by hand. Re-run the command "
        "below to refresh it.",
        "",
        'The bench needs the `bench` extra (`pip install -e ".[bench]"`), the load '
        "generator only `loadgen`. The load "
        "generator the bench drives also runs on its own against any server: "
        "`python -m loadgen --target HOST:PORT` (`--help` lists its flags; README.md, "
        '"Load testing").',
        "",
        "## How it was measured",
        "",
        f"Every server runs in its own process on this machine and is measured alone (the "
        f"others idle), against a "
        f"private redis-server holding {cfg['customers']:,} simulated customers. The same "
        f"load generator (`python -m loadgen`) drives every entry: closed loop, "
        f"{cfg['concurrency']} concurrent callers in {cfg['processes']} client process(es), "
        f"{cfg['duration_s']:g} s measured per entry, split over {cfg.get('rounds', 1)} "
        f"interleaved round(s) (each after {cfg['warmup_s']:g} s of warm-up) so that outside "
        "noise spreads over all entries. "
        f"{cfg['unknown_share']:.0%} of the ids are unknown customers; turns vary channel, "
        "device, category, sentiment, time zone, locale and turn index. Latencies are "
        "HDR-histogram percentiles. The client shares the CPUs with the server, so "
        "every entry pays the same client cost (its CPU per call is in the table). "
        "'server CPU µs/call' is the CPU the server process (and its workers) used during "
        "the entry's runs, warm-up included, per call: with the client's, it is what one "
        "call costs the machine's cores. "
        "'load avg' is the machine's 1-minute load average during the entry: the bench "
        f"itself (client + server) accounts for up to {meta_cores(results)} of it; more means "
        "other processes were running.",
        "",
        *_env_note(cfg),
        *_busy_warning(results["machine"]),
        "## Closed loop",
        "",
    ]
    lines += _entries(results)
    lines += [
        "",
        f"![latency per entry]({plot_name})",
        "",
        f"## Open loop at {cfg['open_rate']:g} rps (Poisson arrivals)",
        "",
        "Latency counts from each request's *scheduled* send time, so queueing behind a "
        "slow call is not hidden (no coordinated omission); the client's own lateness "
        "is shown separately and is included.",
        "",
    ]
    lines += _open_loop(results)
    lines += ["", f"## Highest open-loop rate with p99 <= {cfg['p99_limit_us'] / 1000:g} ms", ""]
    lines += _max_rate(results)
    lines += inprocess_markdown(results.get("inprocess"))
    lines += ["", "## Ratios and targets", "", *_targets(results["targets"])]
    lines += breakdown(results)
    lines += ["", "## Where the decide server spends its time", ""]
    lines += _profile(results.get("profile"))
    lines += ["", "## Machine and command", "", *_machine(results["machine"])]
    lines += ["", "Raw numbers: the JSON written by `--json` (same run).", ""]
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text("\n".join(lines))
    return dest


def console_summary(results: dict[str, Any]) -> str:
    """The closed-loop table and the targets, for the terminal."""
    rows = [{"name": k, **v} for k, v in results["entries"].items()]
    marks = [
        f"  {'met' if t['met'] else 'NOT met'}: {t['description']} = {_fmt(t['value'])} "
        f"(target {t['target']})"
        for t in results["targets"]
    ]
    return "\n".join([table(rows), "", *marks])
