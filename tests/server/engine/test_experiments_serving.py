"""Experiments in the engine: arms by customer, weights, log rows, shadow rows.

Versions come from ``tests.support.experiments``: ``v1`` the default policy, ``v2``
explores uniformly (so the two answer differently), ``v3`` is the shadow.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from modelio.logrecords import DECISIONS
from server.models.reload import ModelReloader
from tests.support.engines import ScriptedReader
from tests.support.experiment_engines import CUSTOMERS, engine_on, serving, strip, turn
from tests.support.experiments import experiment
from tests.support.record_logs import MemoryLog


def test_same_customer_same_arm_across_calls_and_restarts(fresh: Path) -> None:
    exp = experiment()
    first = serving(fresh, exp)
    second = serving(fresh, exp)  # a "restart": a new engine on the same file
    version = {"control": "v1", "explore": "v2"}
    for cid in CUSTOMERS[:60]:
        arms = {first.decide(turn(cid, i)).arm for i in range(3)} | {second.decide(turn(cid)).arm}
        assert arms == {exp.arm_of(cid).name}
        d = first.decide(turn(cid))
        assert d.model_version == version[d.arm]
    assert first.model_version == "v1"  # the control arm


def test_weights_are_honoured_and_a_batch_is_grouped_by_arm(fresh: Path) -> None:
    exp = experiment()
    engine = serving(fresh, exp)
    reader = engine._reader
    assert isinstance(reader, ScriptedReader)
    reader.calls.clear()
    decided = engine.decide_batch([turn(c) for c in CUSTOMERS])
    assert len(reader.calls) == 1  # one feature read for the whole batch
    counts = Counter(d.arm for d in decided)
    p, n = 0.25, len(CUSTOMERS)
    assert abs(counts["explore"] - n * p) <= 4.5 * math.sqrt(n * p * (1 - p))
    # Each request's answer is exactly what its arm's version alone answers.
    alone = {"v1": engine_on(fresh), "v2": engine_on(fresh)}
    ModelReloader(alone["v2"], fresh).reload("v2")
    for req, d in zip([turn(c) for c in CUSTOMERS], decided, strict=True):
        assert d.arm == exp.arm_of(req.customer_id).name
        single = alone[d.model_version].decide(req)
        assert strip(single) == dataclasses.replace(strip(d), arm="")


def test_log_rows_carry_the_arm_and_no_experiment_logs_arm_empty(fresh: Path) -> None:
    log = MemoryLog()
    engine = engine_on(fresh, log)
    d = engine.decide(turn("C00000"))
    assert d.arm == "" and log.of(DECISIONS)[0]["arm"] == ""
    log = MemoryLog()
    engine = serving(fresh, experiment(), log)
    decided = engine.decide_batch([turn(c) for c in CUSTOMERS[:40]])
    logged = {r["decision_id"]: r for r in log.of(DECISIONS)}
    assert len(logged) == 40
    for d in decided:
        row = logged[d.decision_id]
        assert (row["arm"], row["model_version"]) == (d.arm, d.model_version)
        assert row["propensity"] == d.next_best_action.propensity


def test_shadow_rows_are_logged_and_the_answer_is_unchanged(fresh: Path) -> None:
    reqs = [turn(c) for c in CUSTOMERS[:50]]
    plain = serving(fresh, experiment(), MemoryLog()).decide_batch(reqs)
    log = MemoryLog()
    engine = serving(fresh, experiment(shadow=["v3"]), log)
    shadowed = engine.decide_batch(reqs)
    assert [strip(d) for d in shadowed] == [strip(d) for d in plain]
    served = [r for r in log.of(DECISIONS) if not r["arm"].startswith("shadow:")]
    shadow = [r for r in log.of(DECISIONS) if r["arm"] == "shadow:v3"]
    assert len(served) == len(shadow) == len(reqs)
    for d, row in zip(shadowed, shadow, strict=True):
        assert row["decision_id"] == f"{d.decision_id}:shadow:v3"
        assert row["model_version"] == "v3" and row["customer_id"] in CUSTOMERS
        probabilities = row["probabilities"]
        assert math.isclose(sum(probabilities), 1.0, rel_tol=1e-6)
        assert row["propensity"] == probabilities[row["action_index"]]
    # One customer's shadow row sees exactly what its served row saw.
    first = next(r for r in served if r["decision_id"] == shadowed[0].decision_id)
    assert shadow[0]["inputs"] == first["inputs"] and shadow[0]["features"] == first["features"]


def test_a_failing_shadow_never_fails_or_changes_the_answer(
    fresh: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = MemoryLog()
    engine = serving(fresh, experiment(shadow=["v3"]), log)
    reqs = [turn(c) for c in CUSTOMERS[:10]]
    expected = [strip(d) for d in engine.decide_batch(reqs)]
    shadow = engine._snapshot.shadows[0].bundle.runner

    def broken(*matrices: Any) -> Any:
        raise RuntimeError("onnx exploded")

    shadow.run_all = broken  # type: ignore[method-assign,assignment]
    try:
        with caplog.at_level(logging.WARNING, "server.engine.served"):
            assert [strip(d) for d in engine.decide_batch(reqs)] == expected
    finally:
        del shadow.run_all
    assert "shadow version v3 failed" in caplog.text
    assert sum(r["arm"] == "shadow:v3" for r in log.of(DECISIONS)) == len(reqs)  # first only


def test_no_shadow_scoring_without_a_decision_log(fresh: Path) -> None:
    engine = serving(fresh, experiment(shadow=["v3"]))
    shadow = engine._snapshot.shadows[0].bundle.runner
    calls = []
    shadow.run_all = lambda *m: calls.append(m)  # type: ignore[method-assign,assignment,return-value]
    try:
        engine.decide_batch([turn(c) for c in CUSTOMERS[:5]])
    finally:
        del shadow.run_all
    assert calls == []
