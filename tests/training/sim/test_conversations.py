"""Simulated conversations: turn order, the no-repeat rule, the stored state, and truth
that depends only on what a model can see at the turn (the conversation state included)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelio.conversation import FAILED, SUCCEEDED, from_row
from modelio.vocab import ACTIONS
from training.data.conversation import with_conversation
from training.sim.config import MAX_TURNS, TIMEZONES
from training.sim.join import ticket_frame
from training.sim.tickets import local_time
from training.sim.truth import (
    eligible_actions,
    sigmoid,
    success_probabilities,
    turn_escalation_logit,
)

from .test_simulate import _state


@pytest.fixture(scope="module")
def turns(sim) -> pd.DataFrame:
    """Decisions (one per decided turn) with their truth, ticket context and the fold."""
    tickets = pd.read_parquet(sim / "tickets.parquet")
    dec = pd.read_parquet(sim / "decisions.parquet").merge(
        pd.read_parquet(sim / "truth" / "decisions.parquet"), on="decision_id"
    )
    dec = dec.merge(tickets[["ticket_id", "issue_category"]], on="ticket_id")
    dec["turn"] = dec["decision_id"].str.rsplit("-", n=1).str[1].astype(int)
    return with_conversation(dec)


def test_turns_are_ordered_and_end_at_an_escalation(turns: pd.DataFrame) -> None:
    by = turns.groupby("ticket_id")
    assert (by["turn"].min() == 1).all() and (by["turn"].max() == by.size()).all()
    assert turns["turn"].max() <= MAX_TURNS and (turns["turn"] > 1).mean() > 0.2
    ordered = turns.sort_values(["ticket_id", "turn"])
    same = ordered["ticket_id"].eq(ordered["ticket_id"].shift())
    assert (ordered["event_timestamp"].diff()[same] > pd.Timedelta(0)).all()
    assert (ordered["turn_index"].diff()[same] >= 1).all()
    last = ordered["turn"] == ordered["ticket_id"].map(by.size())
    assert not ordered.loc[~last, "escalated"].any(), "a conversation ends at an escalation"
    assert not (turns["success"] & turns["escalated"]).any()


def test_a_failed_action_is_not_repeated_but_a_handoff(turns: pd.DataFrame) -> None:
    failed = turns["conv_failed_actions"].str.split(",")
    repeated = [a in f for a, f in zip(turns["action"], failed, strict=True)]
    assert set(turns.loc[repeated, "action"]) <= {"human_handoff"}


def test_sentiment_drifts_with_the_outcome(turns: pd.DataFrame) -> None:
    later = turns[turns["has_conversation"] == 1.0]
    after_failure = later[later["conv_last_failed"] == 1.0]["conv_sentiment_step"]
    after_success = later[later["conv_last_failed"] == 0.0]["conv_sentiment_step"]
    assert after_failure.mean() < -0.05 < 0.05 < after_success.mean()
    first = turns[turns["turn"] == 1]["p_escalate"].mean()
    assert later["p_escalate"].mean() > first  # failures and falling sentiment raise the risk


def test_stored_state_is_the_fold_after_each_turn(sim, turns: pd.DataFrame) -> None:
    store = pd.read_parquet(sim / "conversation_state.parquet")
    assert len(store) == len(turns) and store["conversation_id"].isin(turns["ticket_id"]).all()
    by_id = turns.set_index("decision_id")
    for values in store.sample(n=300, random_state=1).to_dict("records"):
        state = from_row(values)
        assert state is not None and state.turns == len(state.actions)
        own = by_id.loc[list(state.decision_ids)]
        assert (own["ticket_id"] == values["conversation_id"]).all()
        assert own["event_timestamp"].iloc[-1] == values["event_timestamp"]  # the turn's time
        expected = [SUCCEEDED if s else FAILED for s in own["success"]]
        assert list(state.outcomes) == expected
        assert list(state.actions) == list(own["action"])
        assert state.last_sentiment == own["sentiment"].iloc[-1]


def test_truth_of_every_turn_uses_only_what_the_turn_shows(sim, turns: pd.DataFrame) -> None:
    """p_escalate and p_success of later turns from the ticket's point-in-time state,
    the turn's own sentiment, turn index and local time, and the conversation inputs."""
    frame = ticket_frame(sim)
    s = _state(frame, sim)
    row = pd.Series(np.arange(len(frame)), index=frame["ticket_id"])[turns["ticket_id"]]
    sub = {k: v[row.to_numpy()] for k, v in s.items()}
    zone = frame["timezone"].map(TIMEZONES.index).to_numpy()[row.to_numpy()]
    seconds = turns["event_timestamp"].astype("int64").to_numpy() // 1_000_000_000
    sub["local_hour"], sub["weekday"] = local_time(seconds, zone)
    sub["sentiment"] = turns["sentiment"].to_numpy()
    sub["turn_index"] = turns["turn_index"].to_numpy()
    sub["conv_failed"] = turns["conv_failed_count"].to_numpy()
    sub["conv_first_sentiment"] = turns["conv_first_sentiment"].to_numpy()
    sub["conv_failed_mask"] = turns[[f"failed_{a}" for a in ACTIONS]].to_numpy() == 1.0
    p = sigmoid(turn_escalation_logit(sub))
    np.testing.assert_allclose(p, turns["p_escalate"].to_numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        turns[[f"p_success__{a}" for a in ACTIONS]].to_numpy(),
        success_probabilities(sub, p),
        rtol=1e-9,
    )
    chosen = turns["action"].map(ACTIONS.index).to_numpy()
    assert eligible_actions(sub)[np.arange(len(turns)), chosen].all()
