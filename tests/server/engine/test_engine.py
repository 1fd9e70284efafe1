"""DecisionEngine on real (tiny) ONNX models and a scripted feature reader."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from modelio.vocab import ACTIONS, FEATURE_VIEWS
from server.engine.decide import DecisionEngine
from server.engine.protocol import Engine
from server.errors import InvalidRequestError, NotReadyError
from server.models.runner import ModelRunner
from tests.support.engines import (
    ENGAGEMENT,
    NOW_TS,
    OTHER_PROFILE,
    PROFILE,
    SUPPORT,
    VIEW_AGES,
    ScriptedReader,
    features,
    turn,
    without_id,
)
from tests.support.models import with_policy

NO_CONSENT = {**PROFILE, "personalization_consent": False}


@pytest.fixture(scope="module")
def runner(model_dir: Path) -> ModelRunner:
    return ModelRunner.load(model_dir)


@pytest.fixture(scope="module")
def explorer(model_dir: Path) -> ModelRunner:
    """Same models, epsilon 1: every eligible action is drawn uniformly."""
    return ModelRunner.load_version(with_policy(model_dir / "test-v1", "test-explore", epsilon=1.0))


def engine_with(runner: ModelRunner, **rows: dict) -> DecisionEngine:
    table = {cid: features(cid, values) for cid, values in rows.items()}
    return DecisionEngine(runner, ScriptedReader(table), clock=lambda: NOW_TS)


def scripted(engine: DecisionEngine) -> ScriptedReader:
    """The engine's reader, as the ScriptedReader :func:`engine_with` gave it."""
    reader = engine._reader
    assert isinstance(reader, ScriptedReader)
    return reader


def test_personalized_decision(runner: ModelRunner) -> None:
    engine = engine_with(runner, C1={**PROFILE, **SUPPORT, **ENGAGEMENT})
    assert isinstance(engine, Engine)
    d = engine.decide(turn("C1"))
    assert d.personalized and d.not_personalized_reason == "" and d.degraded_reasons == ()
    assert d.segment.id >= 0 and d.segment.name in {s.name for s in runner.manifest.segments}
    assert (d.style.formality, d.style.language) == ("formal", "fr")
    assert d.feature_age_seconds == pytest.approx(min(VIEW_AGES.values()))
    assert d.model_version == engine.model_version == "test-v1"
    assert d.escalation_risk.band in {"low", "medium", "high"}
    nba = d.next_best_action
    assert nba.action in ACTIONS and 0 < nba.propensity <= 1
    ranked = [a.predicted_success for a in nba.alternatives]
    assert ranked == sorted(ranked, reverse=True) and len(ranked) == len(ACTIONS) - 1
    assert len(d.decision_id) == 32 and d.request_id == "r-1"


def test_batch_equals_single_and_runs_each_model_once(runner: ModelRunner) -> None:
    engine = engine_with(
        runner, C1={**PROFILE, **SUPPORT, **ENGAGEMENT}, C2={**NO_CONSENT, **SUPPORT}, C3=SUPPORT
    )
    reqs = [
        turn(cid, f"r{i}", sentiment=(i % 9 - 4) / 4.5, turn_index=1 + i % 4, channel=ch)
        for i, (cid, ch) in enumerate(
            [(c, h) for c in ("C1", "C2", "C3", "nobody") for h in ("web_chat", "voice", "email")]
        )
    ]
    calls: Counter[int] = Counter()  # rows of the segment matrix per combined run
    run_all = runner.run_all

    def counted(segment, escalation, nba):
        calls[len(segment)] += 1
        return run_all(segment, escalation, nba)

    engine.bundle.runner.run_all = counted  # type: ignore[method-assign]
    try:
        batch = engine.decide_batch(reqs)
        assert calls == {len(reqs): 1}  # the three models in one run, over the whole batch
        assert scripted(engine).calls[-1] == ["C1", "C2", "C3", "nobody"]  # distinct, one read
        singles = [engine.decide(r) for r in reqs]
    finally:
        del engine.bundle.runner.run_all
    assert [without_id(d) for d in batch] == [without_id(d) for d in singles]
    assert len({d.decision_id for d in batch + singles}) == 2 * len(reqs)
    assert engine.decide_batch([]) == []


def test_unknown_customer_gets_a_cold_start_answer(runner: ModelRunner) -> None:
    d = engine_with(runner).decide(turn("nobody", locale="pt-BR"))
    assert not d.personalized and d.not_personalized_reason == "unknown_customer"
    assert (d.segment.id, d.segment.name) == (-1, "unknown")
    assert (d.style.formality, d.style.language) == ("", "pt")
    assert d.feature_age_seconds == -1.0
    offered = {d.next_best_action.action, *(a.action for a in d.next_best_action.alternatives)}
    assert offered.isdisjoint({"account_billing_answer", "retention_offer", "priority_queue"})


def test_no_consent_means_profile_unused(runner: ModelRunner) -> None:
    """Whatever the profile says, without consent the answer is the history-only one."""
    answers = [
        without_id(engine_with(runner, C1=rows).decide(turn("C1")))
        for rows in (
            {**NO_CONSENT, **SUPPORT, **ENGAGEMENT},
            {**OTHER_PROFILE, **SUPPORT},  # consent missing: means no
            SUPPORT,
        )
    ]
    assert answers[0] == answers[1] == answers[2]
    d = answers[0]
    assert not d.personalized and d.not_personalized_reason == "no_consent"
    assert d.segment.id == -1 and d.style.formality == "" and d.style.language == "es"
    offered = {d.next_best_action.action, *(a.action for a in d.next_best_action.alternatives)}
    assert "retention_offer" not in offered and "priority_queue" not in offered


def test_no_consent_without_history_scores_like_defaults(runner: ModelRunner) -> None:
    known = engine_with(runner, C1=NO_CONSENT).decide(turn("C1"))
    unknown = engine_with(runner).decide(turn("C1"))
    assert known.escalation_risk == unknown.escalation_risk
    score = lambda d: {a.action: a.predicted_success for a in d.next_best_action.alternatives}  # noqa: E731
    common = score(known).keys() & score(unknown).keys()
    assert common and all(score(known)[a] == score(unknown)[a] for a in common)


def test_negative_sentiment_forces_a_human(runner: ModelRunner) -> None:
    engine = engine_with(runner, C1={**PROFILE, **SUPPORT, **ENGAGEMENT})
    threshold = runner.manifest.policy.handoff_sentiment_threshold
    nba = engine.decide(turn("C1", sentiment=threshold)).next_best_action
    assert nba.action == "human_handoff" and nba.propensity == 1.0
    assert nba.reason_codes == ("forced_handoff_negative_sentiment",)


def test_ineligible_actions_are_never_chosen(explorer: ModelRunner) -> None:
    engine = engine_with(
        explorer,
        PREMIUM={**PROFILE, **SUPPORT},
        NOCONSENT={**NO_CONSENT, **SUPPORT},
        FREE={**PROFILE, "plan_tier": "free"},
    )
    chosen: dict[str, set[str]] = {}
    for cid in ("PREMIUM", "NOCONSENT", "FREE", "nobody"):
        reqs = [turn(cid, f"r{i}") for i in range(150)]
        chosen[cid] = {d.next_best_action.action for d in engine.decide_batch(reqs)}
    assert chosen["PREMIUM"] == set(ACTIONS)  # exploration reaches every eligible action
    assert chosen["NOCONSENT"] == set(ACTIONS) - {"retention_offer", "priority_queue"}
    assert chosen["FREE"] == set(ACTIONS) - {"priority_queue"}
    assert chosen["nobody"] == set(ACTIONS) - {
        "retention_offer", "priority_queue", "account_billing_answer"
    }  # fmt: skip


def test_same_turn_same_answer(runner: ModelRunner) -> None:
    engine = engine_with(runner, C1={**PROFILE, **SUPPORT})
    first, again = engine.decide(turn("C1")), engine.decide(turn("C1"))
    assert without_id(first) == without_id(again) and first.decision_id != again.decision_id


def test_store_failure_answers_degraded(runner: ModelRunner) -> None:
    engine = DecisionEngine(runner, ScriptedReader({}, error="feature_timeout"))
    d = engine.decide(turn("C1"))
    assert d.degraded_reasons == ("feature_timeout",)
    assert not d.personalized and d.not_personalized_reason == "features_unavailable"
    assert d.next_best_action.action in ACTIONS


def test_unknown_time_zone_is_invalid(runner: ModelRunner) -> None:
    engine = engine_with(runner)
    with pytest.raises(InvalidRequestError) as single:
        engine.decide(turn(timezone="Mars/Olympus"))
    assert single.value.field == "context.time_zone"
    with pytest.raises(InvalidRequestError) as batch:
        engine.decide_batch([turn(), turn(timezone="Mars/Olympus")])
    assert batch.value.field == "requests[1].context.time_zone"


def test_close(runner: ModelRunner) -> None:
    engine = engine_with(runner)
    assert engine.ready()
    engine.close()
    engine.close()
    assert not engine.ready() and scripted(engine).closed
    with pytest.raises(NotReadyError):
        engine.decide(turn())


def test_fixture_views_are_the_real_ones() -> None:
    assert set(VIEW_AGES) == set(FEATURE_VIEWS)
    assert set(PROFILE) | set(SUPPORT) | set(ENGAGEMENT) == {
        f for names in FEATURE_VIEWS.values() for f in names
    }


class GatedReader(ScriptedReader):
    """The first read waits for ``gate``, so calls made meanwhile queue up."""

    def __init__(self, rows: dict) -> None:
        super().__init__(rows)
        self.gate = threading.Event()
        self.first_read = threading.Event()

    def read(self, customer_ids):  # type: ignore[no-untyped-def]
        if not self.first_read.is_set():
            self.first_read.set()
            assert self.gate.wait(10)
        return super().read(customer_ids)


def test_overlapping_decides_share_one_read_and_match_solo_answers(runner: ModelRunner) -> None:
    rows = {"C1": {**PROFILE, **SUPPORT, **ENGAGEMENT}, "C2": {**NO_CONSENT, **SUPPORT}}
    table = {cid: features(cid, values) for cid, values in rows.items()}
    reader = GatedReader(table)
    engine = DecisionEngine(runner, reader, clock=lambda: NOW_TS, max_batch=16)
    solo = DecisionEngine(runner, ScriptedReader(table), clock=lambda: NOW_TS)
    reqs = [
        turn(cid, f"r{i}", sentiment=(i % 7 - 3) / 3.5, turn_index=1 + i % 3)
        for i, cid in enumerate(["C1", "C2", "nobody", "C1", "C2", "C1", "nobody", "C2"])
    ]
    bad = turn("C1", "r-bad", timezone="Mars/Olympus")
    with ThreadPoolExecutor(len(reqs) + 1) as pool:
        first = pool.submit(engine.decide, reqs[0])
        assert reader.first_read.wait(5)
        rest = [pool.submit(engine.decide, r) for r in reqs[1:]]
        invalid = pool.submit(engine.decide, bad)
        with pytest.raises(InvalidRequestError) as exc:
            invalid.result(5)  # refused before it joins a batch: the others are unharmed
        assert exc.value.field == "context.time_zone"
        for _ in range(500):
            if len(engine._batcher._queue) == len(rest):  # type: ignore[union-attr]
                break
            threading.Event().wait(0.01)
        reader.gate.set()
        got = [first.result(5)] + [f.result(5) for f in rest]
    assert [without_id(d) for d in got] == [without_id(solo.decide(r)) for r in reqs]
    assert len(reader.calls) == 2  # the first call alone, then everyone who waited
    assert sorted(reader.calls[1]) == ["C1", "C2", "nobody"]  # distinct customers
