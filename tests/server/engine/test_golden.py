"""Answers unchanged: 3,000 fixed turns, decided alone, in DecideBatch-sized batches and
micro-batched, give exactly the committed answers (see tests.support.golden)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from server.engine.decide import DecisionEngine
from server.models.runner import ModelRunner
from tests.support import golden
from tests.support.engines import NOW_TS, ScriptedReader


def _engine(model_dir: Path, max_batch: int = 1) -> DecisionEngine:
    reader = ScriptedReader(golden.customers())
    runner = ModelRunner.load(model_dir)
    return DecisionEngine(runner, reader, clock=lambda: NOW_TS, max_batch=max_batch)


def _close(got: Any, want: Any) -> bool:
    """Equal, floats within 1e-6 relative: onnxruntime may differ in the last float32
    bits between builds of a graph; every other value must be identical."""
    if isinstance(want, float) and isinstance(got, float):
        return got == pytest.approx(want, rel=1e-6, abs=1e-7)
    if isinstance(want, list) and isinstance(got, list):
        return len(got) == len(want) and all(map(_close, got, want))
    if isinstance(want, dict) and isinstance(got, dict):
        return got.keys() == want.keys() and all(_close(got[k], want[k]) for k in want)
    return bool(got == want)


def _same(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert len(got) == len(want)
    differ = [w["request_id"] for g, w in zip(got, want, strict=True) if not _close(g, w)]
    assert not differ, f"{len(differ)} answers changed, first {differ[:5]}"


@pytest.fixture(scope="module")
def alone(model_dir: Path) -> list[dict[str, Any]]:
    engine = _engine(model_dir)
    answers = [golden.answer(engine.decide(t)) for t in golden.turns()]
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write(answers)
    return answers


def test_lone_decisions_match_the_golden_answers(alone: list[dict[str, Any]]) -> None:
    _same(alone, golden.read())


def test_batches_give_the_same_answers(model_dir: Path, alone: list[dict[str, Any]]) -> None:
    engine = _engine(model_dir)
    turns = golden.turns()
    got: list[dict[str, Any]] = []
    i, sizes = 0, (100, 37, 1, 250)  # DecideBatch sizes, cycling
    while i < len(turns):
        size = sizes[(i // 100) % len(sizes)]
        got += [golden.answer(d) for d in engine.decide_batch(turns[i : i + size])]
        i += size
    _same(got, alone)


def test_micro_batched_decides_give_the_same_answers(
    model_dir: Path, alone: list[dict[str, Any]]
) -> None:
    engine = _engine(model_dir, max_batch=16)
    turns = golden.turns()[:1000]
    with ThreadPoolExecutor(8) as pool:
        got = [golden.answer(d) for d in pool.map(engine.decide, turns)]
    engine.close()
    _same(got, alone[:1000])
