"""The conversation-state history for the offline store (``conversation_state.parquet``).

One row per decided turn: the state of the ticket's conversation once that turn was
decided and its outcome reported, folded with the shared code the server runs
(:func:`modelio.conversation.after_turn`, :func:`~modelio.conversation.after_outcome`),
stamped at the turn's time (:func:`training.data.conversation.fold_turns`, the fold
training's inputs are computed with), in the layout of :mod:`training.data.conversation_rows`
(shared with the history derived from the server's logs). The conversation id is the
ticket id. A point-in-time read just before a turn therefore returns the state of the
conversation's earlier turns, exactly what the online store holds when the server
decides that turn (tests/training/data/test_conversation_inputs.py).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from training.data.contract import NS
from training.data.conversation import fold_turns
from training.data.conversation_rows import state_table


def conversation_table(decisions: pa.Table) -> pa.Table:
    """State rows of a block's decisions table (rows are by ticket, then turn).

    Needs the decisions' ``ticket_id``, ``customer_id``, ``decision_id``, ``event_timestamp``,
    ``sentiment``, ``action``, ``success`` and the ticket's ``issue_category``."""
    ticket = decisions["ticket_id"].to_pylist()
    at_ns = decisions["event_timestamp"].cast(pa.int64()).to_numpy()
    folded = fold_turns(
        ticket,
        (float(t // NS) for t in at_ns),
        decisions["sentiment"].to_numpy(),
        decisions["issue_category"].to_pylist(),
        decisions["action"].to_pylist(),
        decisions["decision_id"].to_pylist(),
        decisions["success"].to_pylist(),
    )
    states = [after for _, after in folded]
    return state_table(ticket, decisions["customer_id"], states, np.asarray(at_ns, np.int64))
