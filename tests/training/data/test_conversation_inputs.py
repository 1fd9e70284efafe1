"""Conversation inputs: training's point-in-time fold equals what the server gets from
the stored state (no training/serving skew), bit for bit.

Training path: :func:`training.data.conversation.with_conversation` folds the shared
``after_turn`` / ``after_outcome`` over each conversation's earlier turns. Serving path:
the offline store (``conversation_state.parquet``, the rows the simulator wrote with
``to_row``) read point in time just before the turn, within the view's TTL, then
``from_row`` and ``conversation_inputs``, as the server does with its online row.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelio.context import BASE_DEFAULTS, ESCALATION_CONVERSATION_INPUTS, vector
from modelio.conversation import (
    CONVERSATION_FEATURES,
    CONVERSATION_INPUTS,
    IDLE_TTL_S,
    conversation_inputs,
    failed_actions,
    from_row,
)
from training.data import inputs
from training.data.conversation import FAILED_COLUMN, failed_sets, with_conversation
from training.data.dataset import JUST_BEFORE

from ..conftest import Trained

_CONTEXT = ["ticket_id", "issue_category", "channel", "device", "timezone"]


@pytest.fixture(scope="module")
def turns(trained: Trained) -> pd.DataFrame:
    """The decided turns with their ticket's context and the training fold's columns."""
    tickets = pd.read_parquet(trained.data_dir / "tickets.parquet", columns=_CONTEXT)
    decisions = pd.read_parquet(trained.data_dir / "decisions.parquet").merge(
        tickets, on="ticket_id", how="left"
    )
    return with_conversation(decisions.sort_values("event_timestamp", ignore_index=True))


def _stored_state(turns: pd.DataFrame, trained: Trained) -> pd.DataFrame:
    """Each turn with the offline store's row as of just before it (within the TTL)."""
    store = pd.read_parquet(trained.data_dir / "conversation_state.parquet")
    store = store.rename(columns={"event_timestamp": "state_ts"}).sort_values("state_ts")
    left = turns[["decision_id", "ticket_id", "event_timestamp"]].copy()
    left["read_ts"] = left["event_timestamp"] - JUST_BEFORE
    joined = pd.merge_asof(
        left.sort_values("read_ts"),
        store[["conversation_id", "state_ts", *CONVERSATION_FEATURES]],
        left_on="read_ts",
        right_on="state_ts",
        left_by="ticket_id",
        right_by="conversation_id",
        direction="backward",
        tolerance=pd.Timedelta(seconds=IDLE_TTL_S),
    )
    return joined.set_index("decision_id").loc[turns["decision_id"]].reset_index()


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _served(turns: pd.DataFrame, stored: pd.DataFrame) -> tuple[list[dict], list[frozenset]]:
    """The server's inputs: from_row of the stored row, then conversation_inputs."""
    at = (turns["event_timestamp"] - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(1, "s")
    out, failed = [], []
    for (_, row), when, sentiment, category in zip(
        stored.iterrows(), at, turns["sentiment"], turns["issue_category"], strict=True
    ):
        state = from_row({name: _plain(row[name]) for name in CONVERSATION_FEATURES})
        out.append(conversation_inputs(state, float(when), float(sentiment), str(category)))
        failed.append(failed_actions(state))
    return out, failed


def test_training_fold_equals_the_stored_state_read_point_in_time(
    turns: pd.DataFrame, trained: Trained
) -> None:
    stored = _stored_state(turns, trained)
    served, failed = _served(turns, stored)
    train = turns[list(CONVERSATION_INPUTS)].to_numpy(dtype=np.float64)
    np.testing.assert_array_equal(
        train, np.asarray([vector(s, CONVERSATION_INPUTS) for s in served])
    )
    assert failed_sets(turns) == failed
    later = turns["has_conversation"] == 1.0
    assert 0.2 < later.mean() < 0.6, "many turns must have an earlier turn"
    assert (turns.loc[later, "conv_failed_count"] >= 1).mean() > 0.5
    assert (turns.loc[~later, "decision_id"].str.endswith("-1")).all()


def test_model_matrix_columns_are_the_served_vector(turns: pd.DataFrame, trained: Trained) -> None:
    """The escalation matrix (conversation layout) ends with exactly the served inputs."""
    sample = turns.sample(n=min(500, len(turns)), random_state=3)
    encoded = inputs.encode_frame(sample, BASE_DEFAULTS)
    matrix = inputs.escalation_matrix(encoded, ESCALATION_CONVERSATION_INPUTS)
    served, _ = _served(sample, _stored_state(sample, trained))
    conv = np.asarray([vector(s, CONVERSATION_INPUTS) for s in served], dtype=np.float32)
    np.testing.assert_array_equal(matrix[:, -len(CONVERSATION_INPUTS) :], conv)


def _turn(ticket: str, n: int, at: str, sentiment: float, action: str, success: bool) -> dict:
    return {
        "ticket_id": ticket,
        "decision_id": f"D-{ticket}-{n}",
        "event_timestamp": pd.Timestamp(at, tz="UTC"),
        "sentiment": sentiment,
        "issue_category": "billing",
        "action": action,
        "success": success,
    }


def test_only_earlier_turns_of_the_same_conversation_count() -> None:
    frame = pd.DataFrame(
        [
            _turn("T1", 2, "2026-01-01 10:02", -0.5, "human_handoff", True),
            _turn("T1", 1, "2026-01-01 10:00", -0.1, "self_service_article", False),
            _turn("T2", 1, "2026-01-01 10:01", 0.3, "priority_queue", False),
            _turn("T2", 2, "2026-01-01 11:00", 0.2, "human_handoff", False),  # idle > TTL
        ],
        index=[10, 11, 12, 13],
    )
    out = with_conversation(frame)
    assert list(out.index) == [10, 11, 12, 13]
    assert out.loc[11, "has_conversation"] == 0.0 and out.loc[11, FAILED_COLUMN] == ""
    assert out.loc[10, "has_conversation"] == 1.0
    assert out.loc[10, "failed_self_service_article"] == 1.0
    assert out.loc[10, "conv_sentiment_change"] == pytest.approx(-0.4)
    assert out.loc[10, FAILED_COLUMN] == "self_service_article"
    assert out.loc[12, "has_conversation"] == 0.0
    assert out.loc[13, "has_conversation"] == 0.0  # the state expired, as in the store
