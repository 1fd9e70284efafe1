"""The shared conversation state: the fold, its inputs, the row round trip, the rule."""

from __future__ import annotations

import pytest

from modelio.conversation import (
    CONVERSATION_FEATURES,
    CONVERSATION_INPUTS,
    FAILED,
    MAX_REMEMBERED,
    SUCCEEDED,
    UNKNOWN,
    ConversationState,
    after_outcome,
    after_turn,
    conversation_inputs,
    failed_actions,
    from_row,
    to_row,
)
from modelio.policy import Eligibility, PolicyConfig, eligible_mask
from modelio.vocab import ACTIONS

T0 = 1_790_000_000.0


def _two_turns() -> ConversationState:
    first = after_turn(None, T0, -0.2, "billing", "self_service_article", "d1")
    s = after_outcome(first, "d1", success=False)
    assert s is not None
    return after_turn(s, T0 + 40, -0.5, "account", "account_billing_answer", "d2")


def test_first_turn_inputs_are_defined_without_state() -> None:
    got = conversation_inputs(None, T0, 0.3, "technical")
    assert list(got) == list(CONVERSATION_INPUTS)
    assert got["has_conversation"] == 0.0
    assert got["conv_first_sentiment"] == got["conv_min_sentiment"] == 0.3
    assert got["conv_categories_seen"] == 1.0
    assert sum(got[f"failed_{a}"] for a in ACTIONS) == 0.0


def test_fold_tracks_turns_sentiment_categories_and_outcomes() -> None:
    s = _two_turns()
    assert s.turns == 2 and s.started_s == T0
    assert (s.first_sentiment, s.min_sentiment, s.last_sentiment) == (-0.2, -0.5, -0.5)
    assert s.outcomes == (FAILED, UNKNOWN)
    assert failed_actions(s) == frozenset({"self_service_article"})
    got = conversation_inputs(s, T0 + 100, -0.1, "account")
    assert got["has_conversation"] == 1.0
    assert got["conv_prior_turns"] == 2.0
    assert got["conv_seconds"] == 100.0
    assert got["conv_min_sentiment"] == -0.5
    assert got["conv_sentiment_change"] == pytest.approx(0.1)
    assert got["conv_sentiment_step"] == pytest.approx(0.4)
    assert got["conv_categories_seen"] == 2.0
    assert got["conv_failed_count"] == 1.0
    assert got["conv_last_failed"] == 0.0  # the latest decision has no outcome yet
    assert got["failed_self_service_article"] == 1.0
    assert got["failed_account_billing_answer"] == 0.0


def test_outcome_for_an_unknown_decision_is_reported_not_applied() -> None:
    s = after_turn(None, T0, 0.0, "general", "faq", "d1")
    assert after_outcome(s, "other", success=True) is None
    done = after_outcome(s, "d1", success=True)
    assert done is not None and done.outcomes == (SUCCEEDED,)


def test_row_round_trip_is_exact_and_partial_rows_are_ignored() -> None:
    s = _two_turns()
    row = to_row(s)
    assert tuple(row) == CONVERSATION_FEATURES
    assert from_row(row) == s
    assert from_row({}) is None
    assert from_row({**row, "outcomes": "0"}) is None  # sequences of unequal length
    assert from_row({**row, "turns": None}) is None


def test_only_the_latest_decisions_are_remembered() -> None:
    s: ConversationState | None = None
    for i in range(MAX_REMEMBERED + 5):
        s = after_turn(s, T0 + i, 0.0, "general", ACTIONS[i % len(ACTIONS)], f"d{i}")
    assert s is not None and s.turns == MAX_REMEMBERED + 5
    assert len(s.actions) == len(s.outcomes) == len(s.decision_ids) == MAX_REMEMBERED
    assert s.decision_ids[-1] == f"d{MAX_REMEMBERED + 4}"
    assert from_row(to_row(s)) == s


def test_policy_skips_failed_actions_but_never_a_handoff() -> None:
    who = Eligibility(consent=True, plan_tier="premium", known_customer=True)
    config = PolicyConfig()
    base = eligible_mask(who, config)
    failed = frozenset({"self_service_article", "human_handoff"})
    mask = eligible_mask(who, config, failed)
    for i, action in enumerate(ACTIONS):
        expected = base[i] and action != "self_service_article"
        assert mask[i] == expected, action
    off = PolicyConfig(skip_failed_actions=False)
    assert eligible_mask(who, off, failed) == eligible_mask(who, off)
