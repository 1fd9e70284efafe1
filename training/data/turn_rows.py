"""The rows and input layouts the escalation and reward models are fitted on.

Shared by ``train`` (training/pipeline.py), ``evaluate`` (which rebuilds the same test
rows) and ``compare-conversation``.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from modelio.context import ESCALATION_CONVERSATION_INPUTS, ESCALATION_INPUTS
from training.data import inputs
from training.data.conversation import first_turns
from training.data.frames import Frames, split_by_time


def model_inputs(conversation: bool) -> tuple[str, ...]:
    """The escalation-input layout of a version with or without conversation features."""
    return ESCALATION_CONVERSATION_INPUTS if conversation else ESCALATION_INPUTS


def escalation_rows(frames: Frames) -> pd.DataFrame:
    """The escalation model's rows, by time: every turn the risk is predicted at (each
    decided turn, labeled with whether the customer escalated at it, and the single
    turn of a ticket the bot did not decide). Data without per-turn labels (decisions
    written before conversations) fall back to the tickets."""
    decisions = frames.decisions
    if "escalated" not in decisions.columns:
        return frames.tickets
    undecided = frames.tickets[~frames.tickets["ticket_id"].isin(decisions["ticket_id"])]
    rows = pd.concat([decisions, first_turns(undecided)], ignore_index=True)
    return rows.sort_values("event_timestamp", kind="stable", ignore_index=True)


def escalation_sets(
    rows: pd.DataFrame,
    window: dict[str, datetime],
    defaults: dict[str, float],
    names: tuple[str, ...] = ESCALATION_INPUTS,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(inputs, labels) of the train, validation and test rows (:func:`escalation_rows`)."""
    return [
        (
            inputs.escalation_matrix(inputs.encode_frame(part, defaults), names),
            part["escalated"].to_numpy(dtype=np.int64),
        )
        for part in split_by_time(rows, window)
    ]
