"""Conversation-state history of real traffic, from the server's decision and outcome logs.

The server keeps a conversation's state only in the online store; this rebuilds, for
the offline store (``conversation_state.parquet``, ``python -m training conversations``),
the row the online store held after every decided turn, with the shared fold
(:func:`modelio.conversation.after_turn`, :func:`~modelio.conversation.after_outcome`,
success per :func:`modelio.reward.is_success`). Rules:

* only served decisions that name a conversation count: shadow rows (``arm``
  ``shadow:<version>`` or a ``decision_id`` containing ``:shadow:``) and decisions with
  an empty ``conversation_id`` are left out; a decision id logged twice counts once
  (the first row read, as in the feedback join);
* a conversation's turns are folded in the order the server decided them (``ts``; ties
  keep log order, as a batch is logged), each at its own ``event_time`` (the turn's
  ``at_s``, exactly as the server computes it) with its sentiment, category and action;
* an outcome (joined to its conversation by ``decision_id``) is applied after the
  latest turn of that conversation decided at or before it was received
  (``received_at``; never before its own turn): an outcome received before the next
  turn was decided is in the state that turn read, one received later is applied
  before the first turn decided after it, as the server applies outcomes on arrival.
  Every outcome row is applied in arrival order (the server applies repeats too; a
  later different repeat wins, as online);
* the state expires, as the online row does, when more than ``IDLE_TTL_S`` passed on the
  server's clock since its last update (a turn's ``ts``, an applied outcome's
  ``received_at``): the next turn starts the conversation over, and an outcome
  received after that is not applied (``unmatched``, as online); so is an outcome whose
  decision the state no longer remembers (``MAX_REMEMBERED``);
* one row per turn: the state after the turn and the outcomes applied with it, stamped
  at the turn's ``event_time`` (the time a training read is taken relative to); turns of
  one conversation with the same ``event_time`` give one row, the later state.

* as online, an outcome changes the state only when its RecordOutcome named the
  decision's conversation (the outcome log's ``conversation_id``); in logs written
  before that column existed (null) every outcome of the decision is applied.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from modelio.conversation import IDLE_TTL_S, ConversationState, after_outcome, after_turn
from modelio.logrecords import served_only
from modelio.reward import is_success
from training.data.contract import NS, timestamp_ns
from training.data.conversation_rows import SCHEMA, state_table

SHADOW_MARK = ":shadow:"
_TTL_NS = int(IDLE_TTL_S * NS)


@dataclass(frozen=True)
class HistoryCounts:
    """What the fold saw and did."""

    decisions: int  # unique served decisions naming a conversation
    without_conversation: int  # served decision rows with an empty conversation_id
    conversations: int
    outcomes_applied: int
    outcomes_unmatched: int  # expired or forgotten state (as online)
    # outcome rows of no decision folded here, or not naming that decision's conversation
    outcomes_elsewhere: int
    restarted: int  # turns that started an expired conversation over
    rows: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class History:
    table: pa.Table  # training.data.conversation_rows.SCHEMA, one row per turn
    counts: HistoryCounts


def _turns(decisions: pa.Table) -> tuple[pd.DataFrame, int]:
    """Served decisions naming a conversation, unique, in fold order; and the rows without."""
    served = served_only(decisions)
    frame = pd.DataFrame(
        {
            "decision_id": served.column("decision_id").to_pylist(),
            "conversation_id": served.column("conversation_id").fill_null("").to_pylist(),
            "customer_id": served.column("customer_id").to_pylist(),
            "ts": timestamp_ns(served.column("ts")),
            "event_us": timestamp_ns(served.column("event_time")) // 1000,
            "sentiment": served.column("sentiment").to_numpy(zero_copy_only=False),
            "category": served.column("issue_category").to_pylist(),
            "action": served.column("action").to_pylist(),
        }
    )
    frame = frame[~frame["decision_id"].str.contains(SHADOW_MARK, regex=False)]
    named = frame["conversation_id"] != ""
    frame = frame[named].drop_duplicates("decision_id", keep="first")
    frame = frame.sort_values(["conversation_id", "ts"], kind="stable", ignore_index=True)
    return frame, int((~named).sum())


def _placed(turns: pd.DataFrame, outcomes: pa.Table) -> tuple[dict[int, list], int]:
    """Outcomes by the turn (row of ``turns``) after which each is applied, in arrival
    order; and the number of outcome rows left out (of no decision in ``turns``, or not
    naming that decision's conversation)."""
    position = dict(zip(turns["decision_id"], turns.index, strict=True))
    got = pd.DataFrame(
        {
            "decision_id": outcomes.column("decision_id").to_pylist(),
            "received": timestamp_ns(outcomes.column("received_at")),
            "success": [
                is_success(bool(r), bool(e))
                for r, e in zip(
                    outcomes.column("resolved").to_pylist(),
                    outcomes.column("escalated").to_pylist(),
                    strict=True,
                )
            ],
        }
    )
    named = _named_conversation(outcomes)
    known = got["decision_id"].isin(list(position))
    own_conversation = turns["conversation_id"].to_numpy()
    applies = [
        k and (n is None or n == own_conversation[position[d]])
        for k, n, d in zip(known, named, got["decision_id"], strict=True)
    ]
    got = got[np.asarray(applies, dtype=bool)].sort_values("received", kind="stable")
    # Turns of a conversation are contiguous rows in decision order: the latest one decided
    # at or before an outcome's arrival is found within the conversation's block.
    blocks = turns.groupby("conversation_id", sort=False).indices
    conversation = turns["conversation_id"].to_numpy()
    decided = turns["ts"].to_numpy()
    placed: dict[int, list] = defaultdict(list)
    for decision_id, received, success in got.itertuples(index=False):
        own = position[decision_id]
        block = blocks[conversation[own]]
        latest = block[0] + int(np.searchsorted(decided[block], received, side="right")) - 1
        placed[max(own, latest)].append((decision_id, int(received), success))
    return placed, len(applies) - sum(applies)


def _named_conversation(outcomes: pa.Table) -> list[str | None]:
    """Each outcome's ``conversation_id`` (None: a log from before the column)."""
    if "conversation_id" not in outcomes.column_names:
        return [None] * outcomes.num_rows
    return outcomes.column("conversation_id").to_pylist()


def conversation_history(decisions: pa.Table, outcomes: pa.Table) -> History:
    """The state rows of the logged conversations (the rules of the module doc)."""
    turns, without = _turns(decisions)
    placed, elsewhere = _placed(turns, outcomes)
    ids: list[str] = []
    customers: list[str] = []
    states: list[ConversationState] = []
    stamps: list[int] = []
    applied = unmatched = restarted = 0
    state: ConversationState | None = None
    last = 0
    previous = None
    for i, row in enumerate(turns.itertuples(index=False)):
        if row.conversation_id != previous:
            state, previous = None, row.conversation_id
        elif state is not None and row.ts - last > _TTL_NS:
            state, restarted = None, restarted + 1
        at_s = int(row.event_us) / 1_000_000  # = event_time.timestamp(), the server's at_s
        state = after_turn(
            state, at_s, float(row.sentiment), row.category, row.action, row.decision_id
        )
        last = int(row.ts)
        for decision_id, received, success in placed.get(i, ()):
            done = (
                after_outcome(state, decision_id, success) if received - last <= _TTL_NS else None
            )
            if done is None:
                unmatched += 1
                continue
            state, last, applied = done, max(last, received), applied + 1
        stamp = int(row.event_us) * 1000
        if ids and ids[-1] == row.conversation_id and stamps[-1] == stamp:
            customers[-1], states[-1] = row.customer_id, state  # same key: the later state
            continue
        ids.append(row.conversation_id)
        customers.append(row.customer_id)
        states.append(state)
        stamps.append(stamp)
    table = state_table(ids, customers, states, np.asarray(stamps, np.int64)) if ids else None
    counts = HistoryCounts(
        decisions=len(turns),
        without_conversation=without,
        conversations=int(turns["conversation_id"].nunique()),
        outcomes_applied=applied,
        outcomes_unmatched=unmatched,
        outcomes_elsewhere=elsewhere,
        restarted=restarted,
        rows=len(ids),
    )
    return History(table if table is not None else SCHEMA.empty_table(), counts)
