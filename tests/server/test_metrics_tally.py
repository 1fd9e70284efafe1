"""The plain-int tallies behind the decision metrics and timings: buckets are Prometheus
``le`` buckets (inclusive upper bounds, cumulative, +Inf last) and counts add up."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from server.metrics_tally import DecisionStats, Timings
from tests.support.engines import turn
from tests.support.observability import parse, total
from tests.support.servers import fake_decision


def exposition(collector: DecisionStats | Timings) -> dict:
    registry = CollectorRegistry()
    registry.register(collector)
    return parse(generate_latest(registry).decode())


def test_timings_buckets_are_inclusive_and_cumulative() -> None:
    timings = Timings("t_seconds", "t", ["result"], (0.001, 0.01))
    timings.declare("failed")
    for seconds in (0.0005, 0.001, 0.002, 0.01, 5.0):
        timings.observe(("ok",), seconds)
    samples = exposition(timings)
    ok = {"result": "ok"}
    assert total(samples, "t_seconds_bucket", le="0.001", **ok) == 2  # 0.001 <= 0.001
    assert total(samples, "t_seconds_bucket", le="0.01", **ok) == 4
    assert total(samples, "t_seconds_bucket", le="+Inf", **ok) == 5
    assert total(samples, "t_seconds_count", **ok) == 5
    assert total(samples, "t_seconds_sum", **ok) == 0.0005 + 0.001 + 0.002 + 0.01 + 5.0
    assert total(samples, "t_seconds_count", result="failed") == 0  # declared: exported at 0


def test_decision_stats_count_a_batch_per_version_arm_and_action() -> None:
    stats = DecisionStats()
    # fake_decision: probability (sentiment + 1) / 2, predicted success 0.75, and
    # degraded reasons (its time zone and event time), so every one counts as degraded.
    batch = [fake_decision(turn(f"C{i}", sentiment=s)) for i, s in enumerate((-1.0, -0.9, 1.0))]
    assert stats.observe(batch) == 3  # degraded ones
    samples = exposition(stats)
    labels = {"model_version": "fake-1", "arm": ""}
    risk = "personalization_escalation_probability"
    assert total(samples, f"{risk}_bucket", le="0.05", **labels) == 2  # 0.0 and 0.05
    assert total(samples, f"{risk}_bucket", le="0.95", **labels) == 2
    assert total(samples, f"{risk}_bucket", le="1.0", **labels) == 3
    assert total(samples, f"{risk}_count", **labels) == 3
    success = "personalization_action_predicted_success"
    assert total(samples, f"{success}_bucket", le="0.7", **labels) == 0
    assert total(samples, f"{success}_bucket", le="0.75", **labels) == 3
    assert total(samples, "personalization_decisions_total", degraded="true") == 3
    actions = {d.next_best_action.action for d in batch}
    for action in actions:
        expected = sum(d.next_best_action.action == action for d in batch)
        got = total(samples, "personalization_decisions_total", action=action, **labels)
        assert got == expected
    assert total(samples, "personalization_segments_total", **labels) == 3
