"""The load generator: statistics, histogram merging, schedules, error counting.

Servers here are tiny in-process gRPC servers on 127.0.0.1 with raw-bytes handlers;
runs are bounded by request count or by a duration under two seconds. No assertion
depends on how fast anything is: latency bounds below come from deliberate sleeps.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest

from loadgen.__main__ import main as loadgen_main
from loadgen.open_loop import OpenLoopSpec, schedule
from loadgen.report import describe, table
from loadgen.responses import ResponseSampler
from loadgen.responses import summarize as summarize_responses
from loadgen.runner import LoadConfig, _spec, run_load
from loadgen.stats import LatencyStats, merge_all
from loadgen.workload import Workload, build_pool

SERVICE = "personalization.v1.PersonalizationService"
Handler = Callable[[int], grpc.StatusCode | None]  # call number (1-based) -> failure or None


class CountingServer:
    """Decide/DecideBatch answering b"" (an empty message), or failing as ``handler`` says."""

    def __init__(self, handler: Handler, workers: int = 8) -> None:
        self.calls = 0
        self._lock = threading.Lock()
        self._handler = handler
        self.server = grpc.server(futures.ThreadPoolExecutor(workers))
        methods = {
            name: grpc.unary_unary_rpc_method_handler(self._serve)
            for name in ("Decide", "DecideBatch")
        }
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, methods),)
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.target = f"127.0.0.1:{self.port}"

    def _serve(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        with self._lock:
            self.calls += 1
            n = self.calls
        code = self._handler(n)
        if code is not None:
            context.abort(code, f"call {n} fails")
        return b""


@pytest.fixture
def serve() -> Iterator[Callable[..., CountingServer]]:
    started: list[CountingServer] = []

    def start(handler: Handler = lambda n: None, workers: int = 8) -> CountingServer:
        server = CountingServer(handler, workers)
        server.server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.server.stop(0).wait()


def _stats(values: list[int]) -> LatencyStats:
    stats = LatencyStats()
    for value in values:
        stats.record(value)
    return stats


# --- statistics -----------------------------------------------------------------------


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


# --- open-loop schedule ------------------------------------------------------------------


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


# --- runs against servers ---------------------------------------------------------------------


def _fails(n: int) -> grpc.StatusCode | None:
    if n % 5 == 0:
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if n % 7 == 0:
        return grpc.StatusCode.INVALID_ARGUMENT
    return None


def test_closed_loop_counts_errors_by_status_code(serve: Callable[..., CountingServer]) -> None:
    server = serve(_fails)
    cfg = LoadConfig(
        target=server.target,
        mode="closed",
        concurrency=1,
        duration_s=30.0,
        warmup_s=0.0,
        max_requests=350,
    )
    result = run_load(cfg)
    assert server.calls == 350
    assert result["errors"] == {"INVALID_ARGUMENT": 40, "RESOURCE_EXHAUSTED": 70}
    assert (result["ok"], result["error_count"], result["sent"]) == (240, 110, 350)


def test_open_loop_counts_errors_and_merges_two_processes(
    serve: Callable[..., CountingServer],
) -> None:
    server = serve(lambda n: grpc.StatusCode.UNAVAILABLE if n % 4 == 0 else None)
    cfg = LoadConfig(
        target=server.target,
        mode="open",
        rate=200.0,
        arrival="constant",
        duration_s=1.0,
        warmup_s=0.0,
        processes=2,
    )
    result = run_load(cfg)
    assert server.calls == 200 == result["sent"]
    assert result["errors"] == {"UNAVAILABLE": 50}
    assert result["ok"] == 150 and result["processes"] == 2


def test_aio_sender_counts_errors(serve: Callable[..., CountingServer]) -> None:
    server = serve(lambda n: grpc.StatusCode.DEADLINE_EXCEEDED if n % 10 == 0 else None)
    cfg = LoadConfig(
        target=server.target,
        mode="open",
        rate=100.0,
        arrival="constant",
        duration_s=1.0,
        warmup_s=0.0,
        sender="aio",
    )
    result = run_load(cfg)
    assert server.calls == 100 == result["sent"]
    assert result["errors"] == {"DEADLINE_EXCEEDED": 10} and result["ok"] == 90
    assert result["sender"] == "aio" and result["client_cpu_us_per_call"] > 0


def test_open_loop_latency_counts_from_the_scheduled_time(
    serve: Callable[..., CountingServer],
) -> None:
    """One 150 ms stall of a single-threaded server delays every call queued behind it."""

    def stall(n: int) -> None:
        if n == 20:
            time.sleep(0.15)

    server = serve(stall, workers=1)
    common: dict[str, Any] = {"target": server.target, "duration_s": 1.0, "warmup_s": 0.0}
    opened = run_load(LoadConfig(mode="open", rate=100.0, arrival="constant", **common))
    assert opened["ok"] == 100
    # calls scheduled during the stall waited 10..140 ms: about 14 of 100 are >= 10 ms
    assert opened["p90_us"] >= 10_000 and opened["max_us"] >= 140_000


def test_batch_pool_and_cli_json(serve: Callable[..., CountingServer], tmp_path: Path) -> None:
    server = serve()
    out = tmp_path / "r.json"
    code = loadgen_main(
        [
            "--target",
            server.target,
            "--mode",
            "closed",
            "--concurrency",
            "2",
            "--duration",
            "0.3",
            "--warmup",
            "0",
            "--rpc",
            "batch",
            "--batch-size",
            "10",
            "--known-count",
            "50",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    result = json.loads(out.read_text())
    assert result["rpc"] == "batch" and result["batch_size"] == 10 and result["ok"] > 0
    assert result["items_per_s"] == pytest.approx(result["rps"] * 10, rel=0.01)
    assert "batch against" in describe(result) and "p99 µs" in table([result])


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
