"""The load generator without a server: latency statistics and histogram merging, open-loop
schedules, the workload's customer mix and the response sample's shares."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from loadgen.open_loop import OpenLoopSpec, schedule
from loadgen.responses import ResponseSampler
from loadgen.responses import summarize as summarize_responses
from loadgen.runner import LoadConfig, _spec
from loadgen.stats import LatencyStats, merge_all
from loadgen.workload import Workload, build_pool


def _stats(values: list[int]) -> LatencyStats:
    stats = LatencyStats()
    for value in values:
        stats.record(value)
    return stats


def test_percentiles_of_a_known_sample_are_within_hdr_precision() -> None:
    stats = _stats(list(range(1, 10_001)))  # 1..10000 µs, each once
    for pct, exact in ((50, 5000), (90, 9000), (99, 9900), (99.9, 9990)):
        assert stats.percentile(pct) == pytest.approx(exact, rel=2e-3)
    assert stats.percentile(100) == stats.max_us == 10_000  # exact, not a bucket edge
    assert stats.mean() == pytest.approx(5000.5, rel=2e-3)
    summary = stats.summary()
    assert (summary["ok"], summary["error_count"], summary["errors"]) == (10_000, 0, {})
    assert summary["p99_us"] == stats.percentile(99)


def test_empty_stats_report_zeros() -> None:
    stats = LatencyStats()
    assert stats.percentile(50) == 0 and stats.mean() == 0.0 and stats.total == 0


def test_merging_wire_histograms_equals_the_union_of_the_samples() -> None:
    rng = random.Random(5)
    values = [int(rng.lognormvariate(7, 1)) + 1 for _ in range(20_000)]
    parts = [_stats(values[i::3]) for i in range(3)]  # three "processes"
    parts[0].record_error("UNAVAILABLE")
    parts[2].record_error("UNAVAILABLE")
    parts[2].record_error("DEADLINE_EXCEEDED")
    shipped = [LatencyStats.from_wire(json.loads(json.dumps(p.to_wire()))) for p in parts]
    merged, whole = merge_all(shipped), _stats(values)
    for pct in (50, 90, 99, 99.9, 100):
        assert merged.percentile(pct) == whole.percentile(pct)
    assert merged.ok == len(values)
    assert merged.errors == {"DEADLINE_EXCEEDED": 1, "UNAVAILABLE": 2}


def test_constant_schedule_is_evenly_spaced() -> None:
    offsets = schedule(100.0, 1.0, "constant", random.Random(1), phase_s=0.002)
    assert len(offsets) == 100
    assert offsets[0] == pytest.approx(0.002)
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    assert all(g == pytest.approx(0.01) for g in gaps)


def test_poisson_schedule_has_the_requested_mean_rate() -> None:
    offsets = schedule(2000.0, 5.0, "poisson", random.Random(3))
    assert abs(len(offsets) - 10_000) < 5 * 100  # 5 sigma of a Poisson count
    assert offsets == sorted(offsets) and offsets[0] > 0 and offsets[-1] < 5.0
    assert offsets == schedule(2000.0, 5.0, "poisson", random.Random(3))  # seeded


def test_process_shares_of_a_constant_schedule_interleave_into_the_full_rate() -> None:
    cfg = LoadConfig(
        target="x:1", rate=300.0, arrival="constant", duration_s=1.0, warmup_s=0.0, processes=3
    )
    specs = [_spec(cfg, w) for w in range(3)]
    assert all(isinstance(s, OpenLoopSpec) for s in specs)
    merged = sorted(
        t
        for s in specs
        if isinstance(s, OpenLoopSpec)
        for t in schedule(s.rate, 1.0, "constant", random.Random(0), s.phase_s)
    )
    assert merged == pytest.approx([i / 300.0 for i in range(300)])


def test_workload_mixes_known_and_unknown_customers() -> None:
    from personalization.v1 import personalization_pb2 as pb

    known = tuple(f"C{i:07d}" for i in range(100))
    pool = build_pool(Workload(known_ids=known, unknown_share=0.2, pool_size=2000, seed=4))
    reqs = [pb.DecideRequest.FromString(b) for b in pool]
    unknown = sum(r.customer_id not in known for r in reqs) / len(reqs)
    assert 0.15 < unknown < 0.25
    assert {r.context.channel for r in reqs} == {1, 2, 3, 4, 5}
    assert {r.context.issue_category for r in reqs} == {1, 2, 3, 4, 5, 6}
    assert len({r.context.time_zone for r in reqs}) > 5
    assert all(-1.0 <= r.context.sentiment <= 1.0 and r.context.turn_index >= 1 for r in reqs)
    assert build_pool(Workload(known_ids=known, pool_size=50, seed=4), worker=1) != pool[:50]


def test_response_sample_reports_personalized_and_degraded_shares() -> None:
    from personalization.v1 import personalization_pb2 as pb

    answers = [
        pb.DecideResponse(personalized=True),
        pb.DecideResponse(
            personalized=False,
            not_personalized_reason="features_unavailable",
            degraded=True,
            degraded_reasons=["feature_timeout"],
        ),
        pb.DecideResponse(personalized=True),
        pb.DecideResponse(personalized=True),
    ]
    sampler = ResponseSampler(every=1, limit=10)
    for answer in answers:
        sampler.offer(answer.SerializeToString())
    single = summarize_responses("decide", sampler.samples)
    batch = summarize_responses(
        "batch", [pb.DecideBatchResponse(responses=answers).SerializeToString()]
    )
    for summary in (single, batch):
        assert summary["decisions_sampled"] == 4
        assert (summary["personalized_share"], summary["degraded_share"]) == (0.75, 0.25)
        assert summary["reasons"] == {
            "feature_timeout": 1,
            "not_personalized:features_unavailable": 1,
        }
    assert summarize_responses("feast", sampler.samples) == {}
    sparse = ResponseSampler(every=3, limit=2)
    for i in range(10):
        sparse.offer(bytes([i]))
    assert sparse.samples == [bytes([2]), bytes([5])]
