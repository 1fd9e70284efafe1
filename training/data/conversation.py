"""Conversation-state inputs of decided turns, point in time, with the server's code.

For every decision (a decided turn) the state of its conversation is the fold of
:func:`modelio.conversation.after_turn` and :func:`~modelio.conversation.after_outcome`
over the conversation's EARLIER turns only (strictly before this one; the conversation
is the ticket), exactly what the online store holds when the server decides the turn;
:func:`~modelio.conversation.conversation_inputs` then gives the inputs. A state whose
last turn is more than the view's TTL (``IDLE_TTL_S``) old is absent, as in the store.
The simulator writes the same fold to ``conversation_state.parquet``; reading that
point in time gives the identical state (tests/training/data/test_conversation_inputs.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pandas as pd

from modelio.conversation import (
    CONVERSATION_INPUTS,
    IDLE_TTL_S,
    ConversationState,
    after_outcome,
    after_turn,
    conversation_inputs,
    failed_actions,
)

#: Column of the actions that failed earlier in the conversation (comma-joined, sorted).
FAILED_COLUMN = "conv_failed_actions"
_NEEDED = ("ticket_id", "decision_id", "event_timestamp", "sentiment", "issue_category")


def turn_seconds(frame: pd.DataFrame) -> pd.Series:
    """``event_timestamp`` as float unix seconds (what the server's ``at_s`` is)."""
    stamps = pd.to_datetime(frame["event_timestamp"], utc=True)
    return (stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(1, "s")


def fold_turns(
    conversations: Iterable[object],
    at_s: Iterable[float],
    sentiments: Iterable[float],
    categories: Iterable[str],
    actions: Iterable[str],
    decision_ids: Iterable[str],
    successes: Iterable[bool],
) -> Iterator[tuple[ConversationState | None, ConversationState]]:
    """Per decided turn (ordered by conversation, then time): the state its conversation
    held before the turn, and the state after the turn and its outcome. A state whose
    last turn is more than ``IDLE_TTL_S`` old is gone, as in the store."""
    state: ConversationState | None = None
    previous: object = None
    last_at = 0.0
    for conversation, when, sentiment, category, action, decision, success in zip(
        conversations, at_s, sentiments, categories, actions, decision_ids, successes, strict=True
    ):
        when = float(when)
        if conversation != previous or (state is not None and when - last_at > IDLE_TTL_S):
            state = None
        previous, last_at = conversation, when
        after = after_turn(state, when, float(sentiment), str(category), str(action), str(decision))
        done = after_outcome(after, str(decision), bool(success))
        assert done is not None  # the turn just folded in is remembered
        yield state, done
        state = done


def with_conversation(decisions: pd.DataFrame) -> pd.DataFrame:
    """``decisions`` plus the CONVERSATION_INPUTS columns and :data:`FAILED_COLUMN`.

    Needs ticket_id, decision_id, event_timestamp, sentiment, issue_category, action and
    success; rows keep their order and index."""
    missing = [c for c in (*_NEEDED, "action", "success") if c not in decisions.columns]
    if missing:
        raise ValueError(f"decisions lack columns for the conversation state: {missing}")
    at = turn_seconds(decisions)
    order = decisions.assign(_at=at).sort_values(["ticket_id", "_at"], kind="stable")
    rows: dict[object, dict[str, float]] = {}
    failed: dict[object, str] = {}
    folded = fold_turns(
        order["ticket_id"],
        order["_at"],
        order["sentiment"],
        order["issue_category"],
        order["action"],
        order["decision_id"],
        order["success"],
    )
    for index, when, sentiment, category, (state, _) in zip(
        order.index, order["_at"], order["sentiment"], order["issue_category"], folded, strict=True
    ):
        rows[index] = conversation_inputs(state, float(when), float(sentiment), str(category))
        failed[index] = ",".join(sorted(failed_actions(state)))
    inputs = pd.DataFrame.from_dict(rows, orient="index", columns=list(CONVERSATION_INPUTS))
    out = decisions.drop(columns=[*CONVERSATION_INPUTS, FAILED_COLUMN], errors="ignore")
    out = out.join(inputs)
    out[FAILED_COLUMN] = pd.Series(failed)
    return out


def first_turns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (turns without an earlier decided turn, e.g. undecided tickets) plus the
    conversation columns of a first turn (no state)."""
    at = turn_seconds(frame)
    values = [
        conversation_inputs(None, float(when), float(sentiment), str(category))
        for when, sentiment, category in zip(
            at, frame["sentiment"], frame["issue_category"], strict=True
        )
    ]
    inputs = pd.DataFrame(values, index=frame.index, columns=list(CONVERSATION_INPUTS))
    out = frame.drop(columns=[*CONVERSATION_INPUTS, FAILED_COLUMN], errors="ignore").join(inputs)
    out[FAILED_COLUMN] = ""
    return out


def failed_sets(frame: pd.DataFrame) -> list[frozenset[str]]:
    """Per row the actions that failed earlier in its conversation (empty without state)."""
    if FAILED_COLUMN not in frame.columns:
        return [frozenset()] * len(frame)
    return [frozenset(v.split(",")) if v else frozenset() for v in frame[FAILED_COLUMN]]


def has_conversation_columns(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` carries the conversation inputs (:func:`with_conversation`)."""
    return all(name in frame.columns for name in CONVERSATION_INPUTS)
