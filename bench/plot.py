"""The bench's latency picture: percentile curves and p50/p99 bars per entry."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def _nines(pct: float) -> float:
    """x position of a percentile on a 'number of nines' axis (50 -> 0.3, 99 -> 2)."""
    return -math.log10(max(1e-4, 1.0 - pct / 100.0))


def _curve(entry: dict[str, Any]) -> tuple[list[float], list[float]]:
    points = sorted((float(p), v) for p, v in entry["curve"].items() if float(p) < 100.0)
    return [_nines(p) for p, _ in points], [v / 1000.0 for _, v in points]


def plot(results: dict[str, Any], dest: Path, title: str) -> Path:
    """Write the PNG to ``dest``; returns it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = {k: v for k, v in results["entries"].items() if v.get("ok")}
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2))
    for name, entry in entries.items():
        xs, ys = _curve(entry)
        left.plot(xs, ys, marker="o", markersize=3, label=name)
    ticks = [0.0, 50.0, 90.0, 99.0, 99.9, 99.99]
    left.set_xticks([_nines(p) for p in ticks], [f"p{p:g}" for p in ticks])
    left.set_yscale("log")
    left.set_ylabel("latency (ms, log scale)")
    left.set_title("Closed loop: latency by percentile")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)
    _bars(right, entries)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    dest.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(dest, dpi=110)
    plt.close(fig)
    return dest


def _bars(ax: Any, entries: dict[str, dict[str, Any]]) -> None:
    names = list(entries)
    xs = range(len(names))
    width = 0.38
    p50 = [entries[n]["p50_us"] / 1000.0 for n in names]
    p99 = [entries[n]["p99_us"] / 1000.0 for n in names]
    ax.bar([x - width / 2 for x in xs], p50, width, label="p50")
    ax.bar([x + width / 2 for x in xs], p99, width, label="p99")
    for x, value in zip(xs, p50, strict=True):
        ax.annotate(f"{value:.2f}", (x - width / 2, value), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(list(xs), names, rotation=20, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title("p50 and p99 per entry (same client, same concurrency)")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8)
