"""Rate profiles without a server: the CLI syntax, the rate they give over time, and the send
times they schedule (exact counts for constant arrivals, 5-sigma bounds for Poisson)."""

from __future__ import annotations

import bisect
import random

import pytest

from loadgen.open_loop import OpenLoopSpec, _offsets
from loadgen.profile import parse_duration, parse_profile
from loadgen.runner import LoadConfig, _spec


def _count(offsets: list[float], lo: float, hi: float) -> int:
    return bisect.bisect_left(offsets, hi) - bisect.bisect_left(offsets, lo)


def test_step_profile_climbs_every_step_and_holds_the_end_rate() -> None:
    profile = parse_profile("step:100:500:100:10s", duration_s=60)
    assert [profile.rate_at(t) for t in (0, 9.9, 10, 25, 40, 59)] == [
        100,
        100,
        200,
        300,
        500,
        500,
    ]
    down = parse_profile("step:300:100:150:1s", duration_s=5)  # 300, 150, then the end 100
    assert [down.rate_at(t) for t in (0.5, 1.5, 2.5, 4.0)] == [300, 150, 100, 100]
    offsets = profile.offsets(60.0, "constant", random.Random(1))
    per_step = [_count(offsets, 10 * k, 10 * (k + 1)) for k in range(6)]
    assert per_step == [1000, 2000, 3000, 4000, 5000, 5000]


def test_ramp_profile_follows_the_integral_of_its_rate() -> None:
    ramp = parse_profile("ramp:0:100:10s", duration_s=20)
    assert ramp.rate_at(5) == pytest.approx(50) and ramp.rate_at(15) == 100
    offsets = ramp.offsets(20.0, "constant", random.Random(1))
    # expected requests by t under a 0 -> 100 ramp over 10 s: 5 t^2, then 100 / s
    assert _count(offsets, 0, 5) == 125 and _count(offsets, 0, 10) == 500
    assert len(offsets) == 1500 and offsets == sorted(offsets)
    poisson = parse_profile("ramp:100:1100", duration_s=10).offsets(
        10.0, "poisson", random.Random(2)
    )
    for lo, hi, mean in ((0, 5, 1750), (5, 10, 4250)):  # integral of 100 + 100 t
        assert abs(_count(poisson, lo, hi) - mean) < 5 * mean**0.5


def test_warmup_runs_at_the_starting_rate_before_the_measured_profile() -> None:
    profile = parse_profile("step:50:100:50:1s", duration_s=3)
    offsets = profile.offsets(5.0, "constant", random.Random(1), warmup_s=2.0)
    assert [_count(offsets, k, k + 1) for k in range(5)] == [50, 50, 50, 100, 100]


def test_process_shares_of_a_profile_interleave_into_the_whole_schedule() -> None:
    profile = parse_profile("step:30:90:30:1s", duration_s=3)
    cfg = LoadConfig(
        target="x:1",
        arrival="constant",
        duration_s=3.0,
        warmup_s=0.0,
        processes=3,
        profile=profile,
        targets=("a:1", "b:1"),
    )
    specs = [_spec(cfg, w) for w in range(3)]
    assert all(isinstance(s, OpenLoopSpec) and s.targets == ("a:1", "b:1") for s in specs)
    merged = sorted(t for s in specs if isinstance(s, OpenLoopSpec) for t in _offsets(s))
    whole = profile.offsets(3.0, "constant", random.Random(0))
    assert len(merged) == 30 + 60 + 90 and merged == pytest.approx(whole)


@pytest.mark.parametrize(
    "text",
    [
        "step:100:500:0:10s",
        "step:1:2:3",
        "ramp:10",
        "sine:1:2",
        "ramp:-5:10",
        "const:0",
        "ramp:a:b",
    ],
)
def test_malformed_profiles_are_refused_with_the_syntax(text: str) -> None:
    with pytest.raises(ValueError, match="--profile"):
        parse_profile(text, duration_s=10)


def test_durations_take_units() -> None:
    assert [parse_duration(t) for t in ("10s", "500ms", "2m", "1.5")] == [10.0, 0.5, 120.0, 1.5]
    with pytest.raises(ValueError):
        parse_duration("0s")
