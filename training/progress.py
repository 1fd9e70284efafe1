"""Stage lines with timings and memory on stderr, so a long training run shows where it is."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import psutil


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux ``ru_maxrss`` is KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Progress:
    """Numbered stages: ``[train] 3/9 escalation model … done in 12.3s (rss 810 MiB)``."""

    def __init__(self, prefix: str, total: int, stream: TextIO | None = None) -> None:
        self.prefix = prefix
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.index = 0
        self.started = time.perf_counter()
        self.timings: dict[str, float] = {}

    def say(self, message: str) -> None:
        """Print one free-form line under the current stage."""
        print(f"[{self.prefix}]     {message}", file=self.stream, flush=True)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the enclosed block and print a start and an end line."""
        self.index += 1
        head = f"[{self.prefix}] {self.index}/{self.total} {name}"
        print(f"{head} …", file=self.stream, flush=True)
        began = time.perf_counter()
        yield
        took = time.perf_counter() - began
        self.timings[name] = round(took, 2)
        rss = psutil.Process().memory_info().rss / 2**20
        print(f"{head}: done in {took:.1f}s (rss {rss:.0f} MiB)", file=self.stream, flush=True)

    def finish(self) -> dict[str, float]:
        """Print the total and return {wall_seconds, peak_rss_mib}."""
        wall = time.perf_counter() - self.started
        peak = peak_rss_mib()
        print(
            f"[{self.prefix}] finished in {wall:.1f}s, peak rss {peak:.0f} MiB",
            file=self.stream,
            flush=True,
        )
        return {"wall_seconds": round(wall, 1), "peak_rss_mib": round(peak, 1)}
