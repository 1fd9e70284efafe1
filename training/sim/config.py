"""Simulation settings and the time grid every simulator module shares.

All simulator-internal times are int64 Unix seconds; they become ``timestamp[ns, UTC]``
only when tables are written, so equality tests between modules are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

DAY = 86_400
#: Customers per RNG block. Every block has its own generator seeded from
#: (seed, block index), so the data do not depend on --chunk-size.
BLOCK_SIZE = 1_000
#: Engagement snapshots: one every SNAPSHOT_STEP_DAYS, each summing ENGAGEMENT_WINDOW_DAYS.
SNAPSHOT_STEP_DAYS = 7
ENGAGEMENT_WINDOW_DAYS = 28
#: Rolling windows of the support history (days).
SHORT_WINDOW_DAYS = 30
LONG_WINDOW_DAYS = 90
#: Share of tickets whose bot decision is logged with its propensity.
LOGGED_SHARE = 0.5
#: A logged ticket is a conversation of at most this many decided turns (docs/data.md).
MAX_TURNS = 4

#: A few IANA zones per preferred language; customers draw one uniformly.
TIMEZONES_BY_LANGUAGE: dict[str, tuple[str, ...]] = {
    "en": ("America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London"),
    "es": ("Europe/Madrid", "America/Mexico_City", "America/Bogota"),
    "fr": ("Europe/Paris", "Europe/Brussels", "America/Toronto"),
    "de": ("Europe/Berlin", "Europe/Vienna", "Europe/Zurich"),
    "pt": ("America/Sao_Paulo", "Europe/Lisbon"),
}
#: Flat zone list; customers store an index into it.
TIMEZONES: tuple[str, ...] = tuple(z for zones in TIMEZONES_BY_LANGUAGE.values() for z in zones)


def today_utc() -> datetime:
    """Midnight UTC of the current day: the default end date, so served features are fresh."""
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


@dataclass(frozen=True)
class SimConfig:
    """What to simulate. ``end`` is midnight UTC; the ticket window is ``[end - days, end)``."""

    customers: int = 20_000
    seed: int = 7
    end: datetime | None = None
    days: int = 180
    out: Path = Path("feature_repo/data")
    chunk_size: int = 50_000
    validate: bool = True

    def __post_init__(self) -> None:
        if self.customers < 1 or self.customers > 9_999_999:
            raise ValueError("customers must be in 1..9,999,999 (ids are C + 7 digits)")
        if self.days < SNAPSHOT_STEP_DAYS:
            raise ValueError(f"days must be >= {SNAPSHOT_STEP_DAYS}")
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        end = self.end or today_utc()
        end = end.replace(tzinfo=UTC) if end.tzinfo is None else end.astimezone(UTC)
        object.__setattr__(self, "end", end.replace(hour=0, minute=0, second=0, microsecond=0))

    @property
    def end_s(self) -> int:
        """End of the window (exclusive), Unix seconds."""
        assert self.end is not None
        return int(self.end.timestamp())

    @property
    def start_s(self) -> int:
        """Start of the ticket window, Unix seconds."""
        return self.end_s - self.days * DAY

    @property
    def blocks_per_chunk(self) -> int:
        """Chunks are whole RNG blocks so that chunking never changes the data."""
        return max(1, -(-self.chunk_size // BLOCK_SIZE))


def snapshot_times(end_s: int, start_s: int) -> np.ndarray:
    """Weekly engagement snapshot times (ascending) ending exactly at ``end_s``.

    The first one is at or before ``start_s`` so every ticket in the window has an
    engagement snapshot at or before it.
    """
    step = SNAPSHOT_STEP_DAYS * DAY
    count = -(-(end_s - start_s) // step) + 1
    return end_s - step * np.arange(count - 1, -1, -1, dtype=np.int64)


def engagement_start(snaps: np.ndarray) -> int:
    """First simulated engagement day, so the first snapshot already has a full window."""
    return int(snaps[0]) - ENGAGEMENT_WINDOW_DAYS * DAY


def block_rng(seed: int, block: int) -> np.random.Generator:
    """Independent generator for one block of customers."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(block)]))
