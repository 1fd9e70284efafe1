"""The engine with conversation state: reads and writes only for requests that name a
conversation, state as model inputs and in the policy, fallbacks and failures that
never cost the answer, and the conversation id in the decision log."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client import REGISTRY

from modelio.context import BASE_DEFAULTS, ESCALATION_INPUTS
from modelio.conversation import (
    CONVERSATION_INPUTS,
    ConversationState,
    after_outcome,
    after_turn,
    conversation_inputs,
)
from modelio.logrecords import DECISIONS
from server.engine import conversations
from server.engine.assemble import read_prepared
from server.engine.conversations import ConversationTracker
from server.engine.decide import DecisionEngine
from server.engine.outcomes import OutcomeRecorder
from server.engine.served import encode
from server.engine.types import DecisionRequest, Outcome
from server.features.base import FeatureReadError
from server.features.conversation import ConversationRead, ConversationStore
from server.logs.base import NullLog, to_table
from server.models.bundle import ModelBundle
from server.models.runner import ModelRunner
from tests.support.engines import ENGAGEMENT, NOW, NOW_TS, PROFILE, SUPPORT, ScriptedReader
from tests.support.engines import features as customer
from tests.support.engines import turn as plain_turn
from tests.support.models import with_policy

KNOWN = {**PROFILE, **SUPPORT, **ENGAGEMENT}


class MemoryStore(ConversationStore):
    """Conversation rows in a dict, with a version per row; counts every call."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__(retries=5, clock=lambda: NOW_TS)
        self.rows: dict[str, tuple[ConversationState, float, int]] = {}
        self.reads = self.writes = 0
        self.fail = fail
        self.lock = threading.Lock()

    def read(self, conversation_ids: Sequence[str]) -> list[ConversationRead]:
        self.reads += 1
        if self.fail:
            raise FeatureReadError("feature_store_unavailable", "scripted")
        out = []
        for cid in conversation_ids:
            row = self.rows.get(cid)
            if row is None:
                out.append(ConversationRead(cid, None, -1.0))
            else:
                out.append(ConversationRead(cid, row[0], row[1], row[2]))
        return out

    def write(self, read: ConversationRead, state: ConversationState, now: float) -> bool:
        self.writes += 1
        if self.fail:
            raise RuntimeError("store down")
        with self.lock:
            version = (
                self.rows[read.conversation_id][2] if read.conversation_id in self.rows else None
            )
            if version != read.version:
                return False
            self.rows[read.conversation_id] = (state, now, (version or 0) + 1)
        return True


class CapturingLog:
    """A RecordLog that keeps what it is given (not a NullLog: the engine builds rows)."""

    def __init__(self) -> None:
        self.batches: list[Any] = []

    def submit(self, kind: str, rows: Sequence[Any]) -> None:
        self.batches.append((kind, rows))

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self, timeout: float | None = None) -> None:
        pass


@pytest.fixture(scope="module")
def greedy(model_dir: Path) -> ModelRunner:
    return ModelRunner.load_version(with_policy(model_dir / "test-v1", "test-greedy", epsilon=0.0))


def _turn(conversation: str = "", **kw: Any) -> DecisionRequest:
    return dataclasses.replace(plain_turn("C1", **kw), conversation_id=conversation)


def _flush(engine: DecisionEngine) -> None:
    """Wait for the writer thread: updates run off the request path."""
    assert engine.conversations is not None and engine.conversations.flush(10.0)


def _engine(runner: ModelRunner, store: MemoryStore, **kw: Any) -> DecisionEngine:
    reader = ScriptedReader({"C1": customer("C1", KNOWN)})
    tracker = ConversationTracker(store, stale_s=600.0)
    return DecisionEngine(runner, reader, clock=lambda: NOW_TS, conversations=tracker, **kw)


def _writes(kind: str, result: str) -> float:
    value = REGISTRY.get_sample_value(
        "personalization_conversation_state_writes_total", {"kind": kind, "result": result}
    )
    return value or 0.0


def test_no_conversation_id_reads_and_writes_nothing(greedy: ModelRunner) -> None:
    store = MemoryStore()
    engine = _engine(greedy, store)
    with_tracker = engine.decide_batch([_turn(), _turn(request_id="r-2")])
    without = DecisionEngine(
        greedy, ScriptedReader({"C1": customer("C1", KNOWN)}), clock=lambda: NOW_TS
    )
    assert store.reads == store.writes == 0
    plain = without.decide_batch([_turn(), _turn(request_id="r-2")])
    for got, want in zip(with_tracker, plain, strict=True):
        assert got.next_best_action == want.next_best_action
        assert got.realtime_age_seconds == -1.0 and got.realtime_fallback_reasons == ()


def test_turns_fold_into_the_state_and_failed_actions_are_skipped(greedy: ModelRunner) -> None:
    store = MemoryStore()
    engine = _engine(greedy, store)
    first = engine.decide(_turn("conv-1"))
    assert first.realtime_fallback_reasons == ("no_conversation_state",)
    _flush(engine)
    state = store.rows["conv-1"][0]
    assert state.turns == 1 and state.actions == (first.next_best_action.action,)
    assert state.decision_ids == (first.decision_id,)
    recorder = OutcomeRecorder(NullLog(), conversations=engine.conversations)
    recorder.record([Outcome(first.decision_id, False, False, None, NOW, conversation_id="conv-1")])
    second = engine.decide(_turn("conv-1", sentiment=-0.5))
    assert second.next_best_action.action != first.next_best_action.action
    assert second.realtime_fallback_reasons == ()
    assert second.realtime_age_seconds == 0.0  # the store's clock is the engine's
    _flush(engine)
    state = store.rows["conv-1"][0]
    assert state.turns == 2 and state.min_sentiment == -0.5


def test_batch_with_two_turns_of_one_conversation_keeps_both(greedy: ModelRunner) -> None:
    store = MemoryStore()
    engine = _engine(greedy, store)
    engine.decide_batch([_turn("conv-b"), _turn("conv-b", request_id="r-2"), _turn("conv-c")])
    _flush(engine)
    assert store.rows["conv-b"][0].turns == 2 and store.rows["conv-c"][0].turns == 1
    assert store.reads == 1  # with the customers; both turns on one compare-and-set


def test_store_failure_never_fails_the_answer(greedy: ModelRunner) -> None:
    store = MemoryStore(fail=True)
    engine = _engine(greedy, store)
    before = _writes("turn", "failed")
    decision = engine.decide(_turn("conv-x"))
    assert decision.realtime_fallback_reasons == ("conversation_state_unavailable",)
    assert decision.degraded_reasons == ("feature_store_unavailable",)
    _flush(engine)
    assert _writes("turn", "failed") == before + 1
    recorder = OutcomeRecorder(NullLog(), conversations=engine.conversations)
    before = _writes("outcome", "failed")
    (receipt,) = recorder.record([Outcome("d", False, False, None, NOW, conversation_id="c")])
    assert not receipt.duplicate and _writes("outcome", "failed") == before + 1


def test_unremembered_outcome_is_counted_not_an_error(greedy: ModelRunner) -> None:
    store = MemoryStore()
    engine = _engine(greedy, store)
    engine.decide(_turn("conv-u"))
    before = _writes("outcome", "unmatched")
    recorder = OutcomeRecorder(NullLog(), conversations=engine.conversations)
    recorder.record([Outcome("other", True, False, 5, NOW, conversation_id="conv-u")])
    assert _writes("outcome", "unmatched") == before + 1
    assert store.rows["conv-u"][0].outcomes == (-1,)


def test_stale_state_is_not_used(greedy: ModelRunner) -> None:
    store = MemoryStore()
    engine = _engine(greedy, store)
    first = engine.decide(_turn("conv-s"))
    _flush(engine)
    state, _, version = store.rows["conv-s"]
    failed = after_outcome(state, first.decision_id, False)
    assert failed is not None
    store.rows["conv-s"] = (failed, NOW_TS - 601.0, version)  # written 601 s ago
    second = engine.decide(_turn("conv-s"))
    assert second.realtime_fallback_reasons == ("conversation_state_stale",)
    assert second.next_best_action.action == first.next_best_action.action
    _flush(engine)
    assert store.rows["conv-s"][0].turns == 2  # the turn still counts in the conversation


def test_conversation_inputs_reach_a_version_that_lists_them(greedy: ModelRunner) -> None:
    store = MemoryStore()
    state = after_turn(None, NOW_TS - 90.0, 0.4, "technical", "self_service_article", "d0")
    store.rows["conv-i"] = (state, NOW_TS - 30.0, 1)
    tracker = ConversationTracker(store, stale_s=600.0, background=False)
    reader = ScriptedReader({"C1": customer("C1", KNOWN)})
    reqs = [_turn("conv-i", sentiment=-0.2), _turn()]
    prepared = read_prepared(reader, reqs, lambda: NOW_TS, tracker)
    assert prepared[0].realtime_age_seconds == 30.0
    conversational = ModelBundle(
        runner=greedy,
        inputs=(*ESCALATION_INPUTS, *CONVERSATION_INPUTS),
        segment_columns=np.array([], dtype=np.intp),
        defaults=BASE_DEFAULTS,
    )
    matrix = encode(conversational, prepared, single=False)
    width = len(ESCALATION_INPUTS)
    want = conversation_inputs(state, NOW.timestamp(), -0.2, "billing")
    assert matrix[0, width:].tolist() == pytest.approx([want[n] for n in CONVERSATION_INPUTS])
    assert want["has_conversation"] == 1.0 and want["conv_seconds"] == 90.0
    first_turn = conversation_inputs(None, NOW.timestamp(), 0.1, "billing")
    assert matrix[1, width:].tolist() == pytest.approx([first_turn[n] for n in CONVERSATION_INPUTS])
    older = ModelBundle.build(greedy)  # no conversation inputs: the same customer columns
    assert np.array_equal(encode(older, prepared, single=False), matrix[:, :width])


def test_decision_log_rows_carry_the_conversation_id(greedy: ModelRunner) -> None:
    log = CapturingLog()
    engine = _engine(greedy, MemoryStore(), log=log)
    engine.decide_batch([_turn("conv-log"), _turn()])
    ((kind, rows),) = log.batches
    table = to_table(kind, rows)
    assert kind == DECISIONS
    assert table.column("conversation_id").to_pylist() == ["conv-log", ""]


def test_next_turn_waits_for_the_previous_turns_update(
    greedy: ModelRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A conversation's read waits for its queued update: the next turn sees the last."""
    monkeypatch.setattr(conversations, "READ_WAIT_S", 30.0)  # bounded by the gate only
    store = MemoryStore()
    gate = threading.Event()
    slow_write = store.write

    def gated(read: ConversationRead, state: ConversationState, now: float) -> bool:
        gate.wait(5.0)
        return slow_write(read, state, now)

    store.write = gated  # type: ignore[method-assign]
    engine = _engine(greedy, store)
    engine.decide(_turn("conv-w"))
    assert engine.conversations is not None
    threading.Timer(0.02, gate.set).start()
    second = engine.decide(_turn("conv-w"))
    assert second.realtime_fallback_reasons == ()  # the first turn's state was there
    _flush(engine)
    assert store.rows["conv-w"][0].turns == 2


def test_close_runs_the_queued_updates(greedy: ModelRunner) -> None:
    store = MemoryStore()
    engine = _engine(greedy, store)
    engine.decide_batch([_turn(f"conv-{i}") for i in range(20)])
    engine.close()
    assert len(store.rows) == 20


def test_writer_sleeps_until_deferred_writes_wait() -> None:
    """Without conversations the writer thread does nothing at all; a poke wakes it."""
    import time

    from server.engine.conversation_writer import ConversationWriter

    calls: list[float] = []
    woke = threading.Event()

    def idle() -> None:
        calls.append(time.monotonic())
        if len(calls) > 1:
            woke.set()

    writer = ConversationWriter(lambda items: None, idle=idle, idle_s=0.001)
    try:
        deadline = time.monotonic() + 5
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        assert len(calls) == 1  # ran once at start, then asleep: never poked
        writer.poke()
        assert woke.wait(5.0)
    finally:
        writer.close(5.0)


def test_attach_keeps_every_other_field_of_the_prepared_request() -> None:
    """attach rebuilds Prepared field by field (cheaper than dataclasses.replace): a
    field added to Prepared and not copied would be lost here."""
    from server.engine.assemble import Prepared

    tracker = ConversationTracker(MemoryStore(), stale_s=600.0, background=False)
    state = ConversationState(NOW_TS - 30, 2, 0.1, -0.2, 0.0, 1, ("a", "b"), (-1, 0), ("d1", "d2"))
    base = Prepared(
        req=_turn("conv-a"),
        raw={"tier": "gold"},
        known=True,
        consent=True,
        feature_age_seconds=12.5,
        not_personalized_reason="x",
        degraded_reasons=("feature_timeout",),
        realtime_age_seconds=40.0,
    )
    read = ConversationRead("conv-a", state, NOW_TS - 3.0, b"4")
    cases = {
        "fresh": (read, state, 3.0, ()),
        "absent": (ConversationRead("conv-a", None, -1.0), None, 40.0, ("no_conversation_state",)),
        "stale": (
            read._replace(event_time=NOW_TS - 700),
            None,
            40.0,
            ("conversation_state_stale",),
        ),
    }
    for name, (given, used, age, fallback) in cases.items():
        got = tracker.attach(base, given, NOW_TS)
        assert (got.conversation, got.conversation_state) == (given, used), name
        assert (got.realtime_age_seconds, got.realtime_fallback) == (pytest.approx(age), fallback)
        others = {f.name for f in dataclasses.fields(Prepared)} - {
            "conversation", "conversation_state", "realtime_age_seconds", "realtime_fallback"
        }  # fmt: skip
        assert all(getattr(got, f) == getattr(base, f) for f in others), name
