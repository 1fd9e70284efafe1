"""PNG charts of a monitoring pass (matplotlib, Agg backend, as the model card's)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from training.export.card import save_figure
from training.monitor.analyze import Monitored
from training.monitor.charts import PChart
from training.monitor.psi import DRIFT, WATCH

PSI_HEATMAP = "psi_heatmap.png"


def chart_file(name: str) -> str:
    """File name of one p-chart (``action_share:x`` -> ``pchart_action_share_x.png``)."""
    return f"pchart_{name.replace(':', '_')}.png"


def plot_psi(out: Path, result: Monitored) -> Path:
    """Heatmap of PSI per input/score (rows) and window (columns), clipped at 0.5."""
    names = list(result.psi)
    grid = np.array([result.psi[n] for n in names])
    fig, ax = plt.subplots(figsize=(2 + 0.5 * grid.shape[1], 1 + 0.18 * len(names)))
    image = ax.imshow(np.minimum(grid, 0.5), cmap="Reds", vmin=0, vmax=0.5, aspect="auto")
    ax.set_yticks(range(len(names)), names, fontsize=6)
    ax.set_xticks(range(grid.shape[1]), [w["start"][:10] for w in result.windows], rotation=90)
    fig.colorbar(image, ax=ax, label=f"PSI (watch > {WATCH}, drift > {DRIFT})")
    ax.set_title("PSI against the reference, per window")
    path = out / PSI_HEATMAP
    save_figure(fig, path)
    return path


def plot_chart(out: Path, chart: PChart, labels: list[str]) -> Path:
    """One p-chart: the rate per window, center line, 3-sigma limits, alarms in red."""
    x = np.arange(len(chart.rate))
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(x, chart.rate, "o-", label="rate")
    ax.axhline(chart.center, color="k", lw=1, label=f"center {chart.center:.3f}")
    ax.step(x, chart.upper, "--", where="mid", color="tab:red", lw=1, label="3-sigma limits")
    ax.step(x, chart.lower, "--", where="mid", color="tab:red", lw=1)
    bad = chart.out_of_control
    ax.plot(x[bad], chart.rate[bad], "o", color="tab:red", ms=9, mfc="none", label="out of control")
    ax.set_xticks(x, [s[:10] for s in labels], rotation=45, ha="right", fontsize=7)
    ax.set(ylabel="share", title=chart.name)
    ax.legend(fontsize=7)
    path = out / chart_file(chart.name)
    save_figure(fig, path)
    return path


def write_plots(out: Path, result: Monitored) -> list[Path]:
    """The PSI heatmap and every p-chart."""
    labels = [w["start"] for w in result.windows]
    return [plot_psi(out, result), *(plot_chart(out, c, labels) for c in result.charts)]
