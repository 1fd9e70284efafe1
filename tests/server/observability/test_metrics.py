"""Prometheus metrics of a real server after real decisions over a real channel: the
decision counters and score histograms per version and arm, RPC latency by method and
status, feature-read latency, the served versions."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import grpc
import pytest

from personalization.v1 import personalization_pb2 as pb
from tests.support.engines import ScriptedReader
from tests.support.experiment_engines import CUSTOMERS, rows
from tests.support.observability import action_name, delta, experiment_engine, live_server
from tests.support.servers import make_request

SERVICE = "personalization.v1.PersonalizationService"
VERSIONS = {"control": "v1", "explore": "v2"}


def test_decisions_scores_and_rpcs_are_counted_per_version_and_arm(
    models: Path, tmp_path: Path
) -> None:
    with live_server(experiment_engine(models, tmp_path)) as live:
        before = live.scrape()
        answers = [live.stub.Decide(make_request(cid), timeout=10) for cid in CUSTOMERS[:40]]
        batch = pb.DecideBatchRequest(requests=[make_request(c) for c in CUSTOMERS[40:50]])
        answers += list(live.stub.DecideBatch(batch, timeout=10).responses)
        with pytest.raises(grpc.RpcError) as bad:
            live.stub.Decide(make_request(time_zone="Mars/Olympus_Mons"), timeout=10)
        assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        after = live.scrape()

    def grown(name: str, **labels: str) -> float:
        return delta(before, after, name, **labels)

    n = len(answers)
    assert n == 50 and {a.arm for a in answers} == {"control", "explore"}
    assert grown("personalization_decisions_total") == n
    by_answer = Counter(
        (a.model_version, a.arm, action_name(a), str(a.personalized).lower()) for a in answers
    )
    for (version, arm, action, personalized), count in by_answer.items():
        assert VERSIONS[arm] == version
        got = grown(
            "personalization_decisions_total",
            model_version=version,
            arm=arm,
            action=action,
            personalized=personalized,
            degraded="false",
        )
        assert got == count, (version, arm, action, personalized)
    for arm, version in VERSIONS.items():
        in_arm = [a for a in answers if a.arm == arm]
        labels = {"model_version": version, "arm": arm}
        assert grown("personalization_escalation_probability_count", **labels) == len(in_arm)
        risk_sum = grown("personalization_escalation_probability_sum", **labels)
        assert risk_sum == pytest.approx(sum(a.escalation_risk.probability for a in in_arm))
        low = grown("personalization_escalation_probability_bucket", le="0.5", **labels)
        assert low == sum(a.escalation_risk.probability <= 0.5 for a in in_arm)
        assert grown("personalization_action_predicted_success_count", **labels) == len(in_arm)
        success = grown("personalization_action_predicted_success_sum", **labels)
        assert success == pytest.approx(sum(a.next_best_action.predicted_success for a in in_arm))
        segments = Counter(a.segment.name for a in in_arm)
        for name, count in segments.items():
            assert grown("personalization_segments_total", segment=name, **labels) == count

    def rpcs(method: str, status: str) -> float:
        return grown(
            "personalization_rpc_duration_seconds_count",
            service=SERVICE,
            method=method,
            status=status,
        )

    assert rpcs("Decide", "OK") == 40 and rpcs("DecideBatch", "OK") == 1
    assert rpcs("Decide", "INVALID_ARGUMENT") == 1  # refused before the engine read anything
    # One read per decided call: 40 Decide calls and one DecideBatch.
    assert grown("personalization_feature_read_duration_seconds_count", result="ok") == 41
    assert grown("personalization_feature_read_duration_seconds_count", result="failed") == 0
    served = {
        (dict(labels)["version"], dict(labels)["arm"], dict(labels)["role"]): value
        for (name, labels), value in after.items()
        if name == "personalization_model_info"
    }
    assert served == {("v1", "control", "arm"): 1.0, ("v2", "explore", "arm"): 1.0}


def test_degraded_decisions_and_failed_reads_are_counted(models: Path, tmp_path: Path) -> None:
    scripted = ScriptedReader(rows())
    with live_server(experiment_engine(models, tmp_path, scripted)) as live:
        before = live.scrape()
        live.stub.Decide(make_request(CUSTOMERS[0]), timeout=10)
        scripted.error = "feature_store_unavailable"
        answers = [live.stub.Decide(make_request(CUSTOMERS[0]), timeout=10) for _ in range(2)]
        after = live.scrape()

    assert all(a.degraded for a in answers)
    decisions = "personalization_decisions_total"
    assert delta(before, after, decisions, degraded="true") == 2
    assert delta(before, after, decisions, degraded="false") == 1
    reason = {"reason": "feature_store_unavailable"}
    assert delta(before, after, "personalization_degraded_total", **reason) == 2
    reads = "personalization_feature_read_duration_seconds_count"
    assert delta(before, after, reads, result="ok") == 1
    assert delta(before, after, reads, result="failed") == 2
