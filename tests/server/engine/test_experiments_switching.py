"""Experiments in the engine: loading, refusing, reload, SIGHUP, promote and rollback.

``bad`` (tests.support.experiments) is a corrupt version.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from modelio.experiment import assign, load_experiment, write_experiment
from modelio.manifest import current_version_dir
from server.engine.factory import build_engine
from server.errors import InvalidRequestError, ModelLoadError
from server.models.on_signal import ReloadOnEvent
from server.models.reload import ModelReloader
from server.settings import Settings
from tests.support.experiment_engines import CUSTOMERS, engine_on, serving, turn
from tests.support.experiments import experiment
from tests.support.feast import FeastFixture


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
