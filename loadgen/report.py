"""Print load-test results: a table for people, JSON for machines."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "entry"),
    ("rps", "rps"),
    ("p50_us", "p50 µs"),
    ("p90_us", "p90 µs"),
    ("p99_us", "p99 µs"),
    ("p999_us", "p99.9 µs"),
    ("max_us", "max µs"),
    ("error_count", "errors"),
)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(rows: Iterable[Mapping[str, Any]], columns: tuple[tuple[str, str], ...] = COLUMNS) -> str:
    """A fixed-width text table of ``rows`` (missing cells are blank)."""
    cells = [[label for _, label in columns]]
    cells += [[_cell(row.get(key, "")) for key, _ in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = []
    for n, row in enumerate(cells):
        parts = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(parts))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def describe(result: Mapping[str, Any]) -> str:
    """The human report of one load-generator run."""
    if result["mode"] == "open":
        how = (
            f"open loop, {result['arrival']} arrivals at {result['rate']:g} rps "
            f"({result['sender']} sender)"
        )
    else:
        how = f"closed loop, {result['concurrency']} concurrent callers"
    head = (
        f"{result['rpc']} against {result['target']}: {how}, {result['processes']} process(es), "
        f"{result['duration_s']:g} s measured after {result['warmup_s']:g} s warm-up"
    )
    row = {"name": result["rpc"], **result}
    lines = [head, "", table([row]), ""]
    lines.append(
        f"calls: {result['sent']:,} sent, {result['ok']:,} ok, "
        f"{result['error_count']:,} failed; mean {result['mean_us']:,.0f} µs; "
        f"client CPU {result['client_cpu_us_per_call'] or 0:,.0f} µs per call"
    )
    if result["batch_size"] > 1:
        lines.append(f"items: {result['items_per_s']:,.0f}/s (batch size {result['batch_size']})")
    if result["mode"] == "open":
        lines.append(
            f"offered {result['offered_rps']:,.1f} rps; client send lag p50 "
            f"{result['send_lag_p50_us']} µs, p99 {result['send_lag_p99_us']} µs "
            "(included in latencies: they count from the scheduled send time)"
        )
    if result.get("decisions_sampled"):
        lines.append(
            f"answers (sample of {result['decisions_sampled']:,} decisions): "
            f"{result['personalized_share']:.1%} personalized, "
            f"{result['degraded_share']:.1%} degraded; {result['reasons'] or 'no reasons'}"
        )
    for code, count in result["errors"].items():
        lines.append(f"  {code}: {count:,}")
    return "\n".join(lines)


def write_json(result: Any, dest: str) -> None:
    """Write ``result`` as indented JSON to ``dest`` (a path, or ``-`` for stdout)."""
    text = json.dumps(result, indent=2, sort_keys=True)
    if dest == "-":
        print(text)
    else:
        Path(dest).write_text(text + "\n")
