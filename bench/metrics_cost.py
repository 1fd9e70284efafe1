"""What the server's metrics and the tracing hooks cost per decision, in process.

``python -m bench.metrics_cost [--rounds 15] [--calls 20000]``

Times, on the same decisions, the decision metrics as they were before the live score
metrics (one unlabelled counter + the degraded tally) against ``observe_decisions`` now,
and what else a lone Decide now runs: one RPC latency observation, one feature-read
observation and three ``tracing.span`` calls with tracing off (and, for scale, on with a
discarding exporter, every trace sampled or none). Variants are interleaved round by
round and each figure is the median over the rounds, in µs per decision (batch of 1) or
per decision of a batch of 100. Nothing here is a target: docs/observability.md quotes
a run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter as Tally
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from server import metrics, tracing
from server.engine.types import (
    Decision,
    EscalationRisk,
    NextBestAction,
    ScoredAction,
    Segment,
    StyleHints,
)
from server.settings import Settings

_OLD = Counter("personalization_decisions", "before", registry=CollectorRegistry())


def decisions(n: int) -> list[Decision]:
    """``n`` decisions shaped like the engine's (two arms, varied scores and actions)."""
    actions = ("answer_from_account", "guided_troubleshooting", "offer", "human_agent")
    return [
        Decision(
            decision_id=f"d{i}",
            request_id=f"r{i}",
            segment=Segment(i % 4, f"segment_{i % 4}"),
            escalation_risk=EscalationRisk((i * 37 % 100) / 100, "low"),
            next_best_action=NextBestAction(
                actions[i % 4], (i * 53 % 100) / 100, 0.9, ("r",), (ScoredAction("offer", 0.1),)
            ),
            style=StyleHints("formal", "fr"),
            personalized=i % 5 != 0,
            model_version="v1" if i % 3 else "v2",
            arm="control" if i % 3 else "explore",
        )
        for i in range(n)
    ]


def before(batch: list[Decision]) -> None:
    """``observe_decisions`` before this change (the code it replaced)."""
    _OLD.inc(len(batch))
    reasons = Tally(r for d in batch for r in d.degraded_reasons)
    for reason, count in reasons.items():
        metrics.DEGRADED.labels(reason).inc(count)


def three_spans() -> None:
    """The engine's spans of one single-version batch (feature read, models, policy)."""
    with tracing.span("feature_read", customers=1):
        pass
    with tracing.span("models", version="v1", arm="", rows=1):
        pass
    with tracing.span("policy", version="v1", arm="", rows=1):
        pass


def per_call_us(fn: Callable[[], Any], calls: int) -> float:
    """CPU µs per call of this thread (not wall time: a busy machine that preempts the
    process does not count, which is what the server's CPU per Decide compares with)."""
    started = time.thread_time()
    for _ in range(calls):
        fn()
    return (time.thread_time() - started) / calls * 1e6


def measure(rounds: int, calls: int) -> dict[str, float]:
    """Median µs per decision of every variant over ``rounds`` interleaved rounds."""
    one, hundred = decisions(1), decisions(100)
    rpc = "/personalization.v1.PersonalizationService/Decide"
    variants: dict[str, tuple[Callable[[], Any], int]] = {
        "decision metrics before, batch 1": (lambda: before(one), 1),
        "decision metrics now, batch 1": (lambda: metrics.observe_decisions(one), 1),
        "decision metrics before, batch 100": (lambda: before(hundred), 100),
        "decision metrics now, batch 100": (lambda: metrics.observe_decisions(hundred), 100),
        "RPC latency observation (per RPC)": (lambda: metrics.observe_rpc(rpc, "OK", 1e-3), 1),
        "feature-read observation (per batch)": (lambda: metrics.feature_read(2e-4, True), 1),
        "3 engine spans, tracing off": (three_spans, 1),
    }
    samples: dict[str, list[float]] = {name: [] for name in variants}
    ratios = {"3 engine spans, tracing on (discard)": 1.0, "the same, sample ratio 0": 0.0}
    traced: dict[str, list[float]] = {name: [] for name in ratios}
    for _ in range(rounds):
        for name, (fn, size) in variants.items():
            samples[name].append(per_call_us(fn, calls) / size)
        for name, ratio in ratios.items():
            tracing.configure(Settings(tracing="discard", tracing_sample_ratio=ratio))
            traced[name].append(per_call_us(three_spans, calls // 10))
            tracing.uninstall()
    return {name: statistics.median(values) for name, values in (samples | traced).items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics_cost", description=__doc__)
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds")
    parser.add_argument("--calls", type=int, default=20_000, help="calls per variant per round")
    args = parser.parse_args(argv)
    result = measure(args.rounds, args.calls)
    for name, us in result.items():
        print(f"{us:8.3f} µs  {name}")
    lone = (
        result["decision metrics now, batch 1"]
        - result["decision metrics before, batch 1"]
        + result["RPC latency observation (per RPC)"]
        + result["feature-read observation (per batch)"]
        + result["3 engine spans, tracing off"]
    )
    print(f"{lone:8.3f} µs  added to a lone Decide (metrics now - before, + RPC, read, spans)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
