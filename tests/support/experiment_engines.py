"""Engines serving the experiment versions of :mod:`tests.support.experiments` on scripted
features (every other customer known), for the engine's experiment tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from modelio.experiment import Experiment, write_experiment
from server.engine.decide import DecisionEngine
from server.models.reload import ModelReloader
from server.models.runner import ModelRunner
from tests.support.engines import ENGAGEMENT, NOW_TS, PROFILE, SUPPORT, ScriptedReader, features
from tests.support.engines import turn as make_turn
from tests.support.record_logs import MemoryLog

CUSTOMERS = [f"C{i:05d}" for i in range(300)]


def turn(cid: str, i: int = 0) -> Any:
    return make_turn(cid, request_id=f"r-{cid}-{i}", turn_index=i)


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
