"""PNG plots of the report (matplotlib, Agg backend): written next to experiment.md.

* ``reward_over_time.png``: each arm's cumulative mean reward by day with its
  always-valid 1 - α band (running-intersection confidence sequence of the mean);
* ``lift_over_time.png``: each treatment's cumulative difference from control with its
  always-valid confidence sequence, and the naive fixed-horizon interval dotted.
"""

# ruff: noqa: RUF002  (Greek letters: the formulas' own symbols)

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

REWARD_PNG, LIFT_PNG = "reward_over_time.png", "lift_over_time.png"


def _finite(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def write_plots(report: dict[str, Any], out: Path) -> list[Path]:
    """Both PNGs of ``report`` (the jsonable report object) under ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seq = report["sequential"]
    days = np.arange(len(seq["days"]))
    labels = [d[5:] for d in seq["days"]]
    level = f"{1 - seq['alpha']:.0%}"

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for arm, s in seq["arms"].items():
        mean = _finite(s["mean"])
        (line,) = ax.plot(days, mean, marker="o", ms=3, label=arm)
        lo, hi = _finite(s["lo"]), _finite(s["hi"])
        ax.fill_between(days, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
    ax.set(title=f"Cumulative mean reward per arm ({level} always-valid band)",
           xlabel="day (UTC)", ylabel="mean reward")  # fmt: skip
    _days_axis(ax, days, labels)
    ax.legend()
    reward_png = out / REWARD_PNG
    fig.tight_layout()
    fig.savefig(reward_png, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    control = report["control"]
    for arm, s in seq["lift"].items():
        diff = _finite(s["difference"])
        (line,) = ax.plot(days, diff, marker="o", ms=3, label=f"{arm} - {control}")
        colour = line.get_color()
        ax.fill_between(days, _finite(s["lo"]), _finite(s["hi"]), color=colour, alpha=0.2, lw=0,
                        label=f"{level} confidence sequence")  # fmt: skip
        ax.plot(days, _finite(s["fixed_lo"]), ":", color=colour, lw=1,
                label="fixed-horizon interval")  # fmt: skip
        ax.plot(days, _finite(s["fixed_hi"]), ":", color=colour, lw=1)
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set(title="Lift over control (difference of mean reward)", xlabel="day (UTC)",
           ylabel="difference")  # fmt: skip
    _days_axis(ax, days, labels)
    ax.legend(fontsize="small")
    lift_png = out / LIFT_PNG
    fig.tight_layout()
    fig.savefig(lift_png, dpi=110)
    plt.close(fig)
    return [reward_png, lift_png]


def _days_axis(ax: Any, days: np.ndarray, labels: list[str]) -> None:
    step = max(1, len(days) // 10)
    ax.set_xticks(days[::step], labels[::step])
    ax.grid(alpha=0.3)
