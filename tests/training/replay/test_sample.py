"""``train --sample``: the weak version 0 of a replay is trained on a share of the history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from training.__main__ import main
from training.data.frames import Frames, sample_frames


def _frames(n: int) -> Frames:
    rows = pd.DataFrame({"ticket_id": [f"T{i}" for i in range(n)], "x": range(n)})
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return Frames(rows, rows.copy(), rows.head(3), {"start": now, "end": now})


def test_sample_keeps_a_share_in_order() -> None:
    frames = _frames(1000)
    small = sample_frames(frames, 0.1, seed=3)
    assert len(small.tickets) == 100 and len(small.decisions) == 100
    assert small.tickets.index.is_monotonic_increasing
    assert small.customers is frames.customers and small.window is frames.window
    pd.testing.assert_frame_equal(small.tickets, sample_frames(frames, 0.1, seed=3).tickets)
    assert sample_frames(frames, 1.0, seed=3) is frames
    with pytest.raises(ValueError):
        sample_frames(frames, 0.0, seed=3)


def test_sample_keeps_the_whole_test_slice() -> None:
    """The weak version trains on a share; its held-out estimate uses every test row."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = pd.DataFrame({"event_timestamp": [start + timedelta(hours=i) for i in range(1000)]})
    hours = {"start": 0, "validation_start": 700, "test_start": 850, "end": 999}
    window = {k: start + timedelta(hours=h) for k, h in hours.items()}
    small = sample_frames(Frames(rows, rows.copy(), rows.head(3), window), 0.1, seed=3)
    for frame in (small.tickets, small.decisions):
        test = frame["event_timestamp"] >= window["test_start"]
        assert test.sum() == 150 and (~test).sum() == 85
        assert frame.index.is_monotonic_increasing


def test_train_has_a_sample_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--sample FRACTION" in capsys.readouterr().out
