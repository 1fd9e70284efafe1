"""Time windows of the logs: ``--window 1h`` / ``30m`` / ``1d`` (clock-aligned) or ``N``
decisions per window (in time order)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class WindowSpec:
    """Either ``seconds`` per window (aligned to the epoch) or ``rows`` per window."""

    seconds: int = 0
    rows: int = 0

    def describe(self) -> str:
        return f"{self.rows} decisions" if self.rows else f"{self.seconds} s"


def parse_window(text: str) -> WindowSpec:
    """``1h``, ``30m``, ``1d``, ``90s`` or a row count such as ``2000``; ValueError otherwise."""
    value = text.strip().lower()
    if value.isdigit() and int(value) > 0:
        return WindowSpec(rows=int(value))
    found = re.fullmatch(r"(\d+)([smhd])", value)
    if not found or int(found.group(1)) == 0:
        raise ValueError(f"--window {text!r}: use 1h, 30m, 1d or a row count like 2000")
    return WindowSpec(seconds=int(found.group(1)) * _UNITS[found.group(2)])


def assign(ts_us: np.ndarray, spec: WindowSpec) -> tuple[np.ndarray, np.ndarray]:
    """Window index of every row (0 = earliest non-empty window) and each window's start
    (Unix µs). ``ts_us``: decision times in µs since the epoch."""
    ts_us = np.asarray(ts_us, dtype=np.int64)
    if spec.rows:
        order = np.argsort(ts_us, kind="stable")
        index = np.empty(len(ts_us), dtype=np.int64)
        index[order] = np.arange(len(ts_us)) // spec.rows
        starts = np.array(
            [ts_us[order[i]] for i in range(0, len(ts_us), spec.rows)], dtype=np.int64
        )
        return index, starts
    width = spec.seconds * 1_000_000
    starts, index = np.unique(ts_us // width * width, return_inverse=True)
    return index.astype(np.int64), starts
