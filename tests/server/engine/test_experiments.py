"""Experiments in the engine: arms by customer, shadow rows, loading, promote/rollback.

Versions come from ``tests.support.experiments``: ``v1`` the default policy, ``v2``
explores uniformly (so the two answer differently), ``v3`` is the shadow, ``bad`` is
corrupt.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from modelio.experiment import Experiment, assign, load_experiment, write_experiment
from modelio.logrecords import DECISIONS
from modelio.manifest import current_version_dir
from server.engine.decide import DecisionEngine
from server.engine.factory import build_engine
from server.errors import InvalidRequestError, ModelLoadError
from server.models.on_signal import ReloadOnEvent
from server.models.reload import ModelReloader
from server.models.runner import ModelRunner
from server.settings import Settings
from tests.support.engines import ENGAGEMENT, NOW_TS, PROFILE, SUPPORT, ScriptedReader, features
from tests.support.engines import turn as make_turn
from tests.support.experiments import experiment, experiment_versions, linked_models
from tests.support.feast import FeastFixture
from tests.support.record_logs import MemoryLog

CUSTOMERS = [f"C{i:05d}" for i in range(300)]


def turn(cid: str, i: int = 0) -> Any:
    return make_turn(cid, request_id=f"r-{cid}-{i}", turn_index=i)


@pytest.fixture(scope="module")
def models(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return experiment_versions(model_dir, tmp_path_factory.mktemp("exp-models"))


@pytest.fixture
def fresh(models: Path, tmp_path: Path) -> Path:
    """A per-test models dir whose versions are symlinks to the module's."""
    return linked_models(models, tmp_path / "models")


def rows() -> dict[str, Any]:
    values = {**PROFILE, **SUPPORT, **ENGAGEMENT}
    return {cid: features(cid, values) for cid in CUSTOMERS[::2]}  # odd ones unknown


def engine_on(models: Path, log: MemoryLog | None = None, **kw: Any) -> DecisionEngine:
    runner = ModelRunner.load(models)
    return DecisionEngine(runner, ScriptedReader(rows()), clock=lambda: NOW_TS, log=log, **kw)


def serving(models: Path, exp: Experiment, log: MemoryLog | None = None) -> DecisionEngine:
    write_experiment(models, exp)
    engine = engine_on(models, log)
    ModelReloader(engine, models).load_experiment()
    return engine


def strip(d: Any) -> Any:
    return dataclasses.replace(d, decision_id="")


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

    def broken(matrix: Any) -> Any:
        raise RuntimeError("onnx exploded")

    shadow.nba = broken  # type: ignore[method-assign]
    try:
        with caplog.at_level(logging.WARNING, "server.engine.served"):
            assert [strip(d) for d in engine.decide_batch(reqs)] == expected
    finally:
        del shadow.nba
    assert "shadow version v3 failed" in caplog.text
    assert sum(r["arm"] == "shadow:v3" for r in log.of(DECISIONS)) == len(reqs)  # first only


def test_no_shadow_scoring_without_a_decision_log(fresh: Path) -> None:
    engine = serving(fresh, experiment(shadow=["v3"]))
    shadow = engine._snapshot.shadows[0].bundle.runner
    calls = []
    shadow.nba = lambda m: calls.append(m)  # type: ignore[method-assign,assignment,return-value]
    try:
        engine.decide_batch([turn(c) for c in CUSTOMERS[:5]])
    finally:
        del shadow.nba
    assert calls == []


@pytest.mark.parametrize(
    ("arms", "shadow", "reason"),
    [
        ([("a", "v1", 1), ("b", "bad", 1)], [], r"version 'bad' refused: .*sha256"),
        ([("a", "v1", 1)], ["bad"], r"version 'bad' refused"),
        ([("a", "v1", 1), ("b", "missing", 1)], [], r"version 'missing' refused: .*no manifest"),
    ],
)
def test_a_bad_version_refuses_the_whole_experiment(
    fresh: Path,
    arms: list[tuple[str, str, int]],
    shadow: list[str],
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = serving(fresh, experiment())
    before = engine.experiment
    arm_list = [{"name": n, "version": v, "weight": w} for n, v, w in arms]
    write_experiment(fresh, experiment(arms=arm_list, shadow=shadow))
    with (
        caplog.at_level(logging.INFO, "server.models.reload"),
        pytest.raises(ModelLoadError, match=reason),
    ):
        ModelReloader(engine, fresh).load_experiment()
    assert engine.experiment is before
    assert {engine.decide(turn(c)).arm for c in CUSTOMERS[:40]} == {"control", "explore"}
    (record,) = [r for r in caplog.records if r.name == "server.models.reload"]
    assert record.levelname == "WARNING" and "keeps serving" in record.getMessage()


def test_invalid_or_missing_file_is_refused(fresh: Path) -> None:
    engine = engine_on(fresh)
    reloader = ModelReloader(engine, fresh)
    with pytest.raises(ModelLoadError, match="no experiment file"):
        reloader.load_experiment()
    (fresh / "experiment.json").write_text('{"name": "x", "salt": "s", "arms": []}')
    with pytest.raises(ModelLoadError, match="invalid experiment"):
        reloader.load_experiment()
    assert engine.experiment.experiment is None and engine.model_version == "v1"


def test_reload_loads_the_experiment_and_a_named_version_ends_it(fresh: Path) -> None:
    engine = engine_on(fresh)
    reloader = ModelReloader(engine, fresh)
    write_experiment(fresh, experiment())
    result = reloader.reload("")
    assert (result.previous_version, result.loaded_version) == ("v1", "v1")
    assert "experiment exp" in result.message
    assert {engine.decide(turn(c)).arm for c in CUSTOMERS[:40]} == {"control", "explore"}
    assert reloader.reload("v2").loaded_version == "v2"
    assert {engine.decide(turn(c)).arm for c in CUSTOMERS[:20]} == {""}


def test_sighup_loads_the_experiment(fresh: Path) -> None:
    engine = engine_on(fresh)
    event = threading.Event()
    worker = ReloadOnEvent(ModelReloader(engine, fresh), event)
    worker.start()
    try:
        write_experiment(fresh, experiment())
        event.set()
        deadline = time.monotonic() + 20
        while worker.attempts < 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        worker.stop()
    exp = engine.experiment.experiment
    assert exp is not None and exp.name == "exp"


def test_promote_without_moving_current_rewrites_the_experiment(fresh: Path) -> None:
    engine = serving(fresh, experiment(shadow=["v3"]))
    result = ModelReloader(engine, fresh).promote("explore")
    assert result.current_version == "v1"
    on_disk = load_experiment(fresh)
    assert on_disk is not None and [(a.name, a.version) for a in on_disk.arms] == [
        ("explore", "v2")
    ]
    assert on_disk.shadow == () and on_disk.salt == "salt-1"
    decided = engine.decide_batch([turn(c) for c in CUSTOMERS[:40]])
    assert {(d.arm, d.model_version) for d in decided} == {("explore", "v2")}
    assert engine.experiment.shadows == ()


def test_promote_with_move_current_removes_the_experiment(fresh: Path) -> None:
    engine = serving(fresh, experiment())
    result = ModelReloader(engine, fresh).promote("explore", move_current=True)
    assert result.current_version == "v2" and current_version_dir(fresh).name == "v2"
    assert not (fresh / "experiment.json").exists()
    decided = engine.decide_batch([turn(c) for c in CUSTOMERS[:40]])
    assert {(d.arm, d.model_version) for d in decided} == {("", "v2")}
    assert "promote explore" in result.message


def test_promote_refuses_unknown_arms_and_no_experiment(fresh: Path) -> None:
    engine = engine_on(fresh)
    reloader = ModelReloader(engine, fresh)
    with pytest.raises(ModelLoadError, match="no experiment is serving"):
        reloader.promote("control")
    write_experiment(fresh, experiment())
    reloader.load_experiment()
    with pytest.raises(InvalidRequestError, match="no arm 'nope'"):
        reloader.promote("nope")
    assert [a.name for a in engine.experiment.arms] == ["control", "explore"]


def test_assignment_is_the_pure_function(fresh: Path) -> None:
    exp = experiment()
    engine = serving(fresh, exp)
    cumulative = exp.cumulative()
    for cid in CUSTOMERS[:30]:
        assert engine.decide(turn(cid)).arm == exp.arms[assign("salt-1", cid, cumulative)].name


def test_the_server_starts_on_the_experiment_and_refuses_a_bad_one(
    fresh: Path, engine_feast_repo: FeastFixture
) -> None:
    settings = Settings(feature_repo=engine_feast_repo.repo, models_dir=fresh)
    write_experiment(fresh, experiment(shadow=["v3"]))
    engine = build_engine(settings)
    try:
        assert engine.model_version == "v1"
        assert [a.name for a in engine.experiment.arms] == ["control", "explore"]
        assert [b.version for b in engine.experiment.shadows] == ["v3"]
    finally:
        engine.close()
    write_experiment(fresh, experiment(shadow=["bad"]))
    with pytest.raises(ModelLoadError, match="version 'bad' refused"):
        build_engine(settings)
