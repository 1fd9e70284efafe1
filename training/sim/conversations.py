"""The conversation-state history for the offline store (``conversation_state.parquet``).

One row per decided turn: the state of the ticket's conversation once that turn was
decided and its outcome reported, folded with the shared code the server runs
(:func:`modelio.conversation.after_turn`, :func:`~modelio.conversation.after_outcome`),
stamped at the turn's time, in the layout of :mod:`training.data.conversation_rows`
(shared with the history derived from the server's logs). The conversation id is the
ticket id. A point-in-time read just before a turn therefore returns the state of the
conversation's earlier turns, exactly what the online store holds when the server
decides that turn (tests/training/data/test_conversation_inputs.py).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from modelio.conversation import ConversationState, after_outcome, after_turn
from training.data.contract import NS
from training.data.conversation_rows import state_table


def conversation_table(decisions: pa.Table) -> pa.Table:
    """State rows of a block's decisions table (rows are by ticket, then turn).

    Needs the decisions' ``ticket_id``, ``customer_id``, ``decision_id``, ``event_timestamp``,
    ``sentiment``, ``action``, ``success`` and the ticket's ``issue_category``."""
    ticket = decisions["ticket_id"].to_pylist()
    ids = decisions["decision_id"].to_pylist()
    at_ns = decisions["event_timestamp"].cast(pa.int64()).to_numpy()
    sentiment = decisions["sentiment"].to_numpy()
    action = decisions["action"].to_pylist()
    success = decisions["success"].to_pylist()
    category = decisions["issue_category"].to_pylist()
    states: list[ConversationState] = []
    state: ConversationState | None = None
    for i, conversation in enumerate(ticket):
        if i == 0 or conversation != ticket[i - 1]:
            state = None
        state = after_turn(
            state, float(at_ns[i] // NS), float(sentiment[i]), category[i], action[i], ids[i]
        )
        done = after_outcome(state, ids[i], bool(success[i]))
        assert done is not None  # the turn just added is remembered
        state = done
        states.append(state)
    return state_table(ticket, decisions["customer_id"], states, np.asarray(at_ns, np.int64))
