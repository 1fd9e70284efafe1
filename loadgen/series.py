"""The per-interval time series of a run: requests offered and answered, percentiles and
errors for every ``interval_s`` of the measured window, and its plot.

Each call counts in the interval its send was *due* in (scheduled time in the open loop,
start in the closed loop), so under a step profile the rate of each interval is the one
the profile asked for, and a stall shows as latency in the intervals that queued
behind it rather than as a gap.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from loadgen.profile import parse_profile
from loadgen.stats import INTERVAL_DIGITS, LatencyStats


def merge_series(parts: list[dict[str, Any]]) -> dict[int, LatencyStats]:
    """Every process's intervals merged slot by slot."""
    merged: dict[int, LatencyStats] = {}
    for part in parts:
        for slot, wire in part.get("series", {}).items():
            stats = merged.setdefault(int(slot), LatencyStats(INTERVAL_DIGITS))
            stats.merge(LatencyStats.from_wire(wire))
    return merged


def summarize_series(
    series: dict[int, LatencyStats], interval_s: float, duration_s: float
) -> list[dict[str, Any]]:
    """One row per interval of the measured window (empty intervals included)."""
    slots = max(math.ceil(duration_s / interval_s - 1e-9), max(series, default=-1) + 1)
    rows = []
    for slot in range(slots):
        stats = series.get(slot, LatencyStats(INTERVAL_DIGITS))
        width = min(interval_s, max(duration_s - slot * interval_s, 1e-9))
        rows.append(
            {
                "t_s": round(slot * interval_s, 6),
                "offered_rps": round(stats.total / width, 1),
                "rps": round(stats.ok / width, 1),
                "ok": stats.ok,
                "error_count": stats.total - stats.ok,
                "errors": stats.errors,
                "p50_us": stats.percentile(50.0),
                "p90_us": stats.percentile(90.0),
                "p99_us": stats.percentile(99.0),
                "max_us": stats.max_us,
            }
        )
    return rows


def plot_series(result: dict[str, Any], path: Path) -> None:
    """Throughput (offered, answered, failed) over p50/p99 latency, per interval, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["intervals"]
    width = result["interval_s"]
    t = [r["t_s"] for r in rows] + [result["duration_s"]]  # the last step gets its width

    def steps(values: list[float]) -> list[float]:
        return values + values[-1:]

    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(9, 6))
    if result.get("profile"):
        profile = parse_profile(result["profile"], result["duration_s"])
        fine = [result["duration_s"] * i / 400 for i in range(401)]
        top.plot(fine, [profile.rate_at(x) for x in fine], "k:", label="requested rps")
    offered = steps([r["offered_rps"] for r in rows])
    top.step(t, offered, where="post", label="offered rps", linestyle="--")
    top.step(t, steps([r["rps"] for r in rows]), where="post", label="ok rps")
    errors = [r["error_count"] / width for r in rows]
    top.bar(t[:-1], errors, width=width, align="edge", color="tab:red", alpha=0.5, label="errors/s")
    top.set_ylabel("requests/s")
    top.legend(loc="upper left")
    top.set_title(f"{result['rpc']} against {result['target']} ({result.get('profile', '')})")
    for key, label in (("p50_us", "p50"), ("p99_us", "p99")):
        ms = [r[key] / 1000 if r[key] else math.nan for r in rows]  # empty: no point
        bottom.step(t, steps(ms), where="post", label=label)
    bottom.set_yscale("log")
    bottom.set_ylabel("latency (ms, log)")
    bottom.set_xlabel(f"seconds into the measured window ({width:g} s intervals)")
    bottom.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
