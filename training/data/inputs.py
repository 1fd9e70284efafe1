"""Training frames → float32 model-input matrices, row by row through modelio.context.

Every matrix here is built by calling the same functions the server calls per request
(:func:`modelio.context.encode_inputs`, :func:`~modelio.context.customer_inputs`,
:func:`~modelio.context.action_inputs`, :func:`~modelio.context.vector`), one row at a
time, so the training set and the served request cannot disagree (no skew).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from modelio.context import (
    BASE_DEFAULTS,
    ESCALATION_INPUTS,
    NBA_INPUTS,
    SEGMENT_INPUTS,
    TurnContext,
    action_inputs,
    customer_inputs,
    encode_inputs,
    vector,
)
from modelio.conversation import CONVERSATION_INPUTS
from modelio.vocab import ACTIONS, FEATURE_VIEWS
from training.data.conversation import has_conversation_columns

RAW_FEATURES: tuple[str, ...] = tuple(f for names in FEATURE_VIEWS.values() for f in names)
#: Defaults that keep "missing" visible (NaN) so medians skip missing values.
_MISSING: dict[str, float] = dict.fromkeys(BASE_DEFAULTS, math.nan)


def _plain(value: Any) -> Any:
    """numpy/pandas scalar → plain Python; NaN, NaT and pd.NA → None (as an online read)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


def raw_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The raw feature columns of each row as a plain dict, like one online-store read."""
    columns = [c for c in RAW_FEATURES if c in frame.columns]
    values = frame[columns].astype(object).to_numpy()
    return [{c: _plain(v) for c, v in zip(columns, row, strict=True)} for row in values]


def event_times(frame: pd.DataFrame) -> list[datetime]:
    """``event_timestamp`` of each row as a tz-aware UTC datetime."""
    stamps = pd.to_datetime(frame["event_timestamp"], utc=True).dt.floor("us")
    return [ts.to_pydatetime() for ts in stamps]


def turn_contexts(frame: pd.DataFrame) -> list[TurnContext]:
    """One :class:`TurnContext` per row (channel, device, category, sentiment, time, zone, turn)."""
    times = event_times(frame)
    cols = ["channel", "device", "issue_category", "sentiment", "timezone", "turn_index"]
    rows = frame[cols].itertuples(index=False, name=None)
    return [
        TurnContext(
            channel=str(ch),
            device=str(dev),
            issue_category=str(cat),
            sentiment=float(sent),
            event_time=when,
            timezone=str(tz),
            turn_index=int(turn),
        )
        for (ch, dev, cat, sent, tz, turn), when in zip(rows, times, strict=True)
    ]


def training_defaults(frame: pd.DataFrame) -> dict[str, float]:
    """Median of every BASE_DEFAULTS input over the rows where it is present.

    Missing values are made NaN by encoding with NaN defaults, so the medians are over
    real values only; an input that is never present keeps its BASE_DEFAULTS value.
    """
    rows = [
        customer_inputs(raw, when, _MISSING)
        for raw, when in zip(raw_records(frame), event_times(frame), strict=True)
    ]
    table = pd.DataFrame(rows, columns=list(BASE_DEFAULTS))
    medians = table.median(skipna=True)
    return {
        name: float(BASE_DEFAULTS[name] if pd.isna(medians[name]) else medians[name])
        for name in BASE_DEFAULTS
    }


def _matrix(rows: Sequence[Mapping[str, float]], names: Sequence[str]) -> np.ndarray:
    out = np.empty((len(rows), len(names)), dtype=np.float32)
    for i, row in enumerate(rows):
        out[i] = vector(row, tuple(names))
    return out


def segment_matrix(frame: pd.DataFrame, defaults: Mapping[str, float]) -> np.ndarray:
    """SEGMENT_INPUTS of each row (customer_inputs: non-consent → defaults)."""
    rows = [
        customer_inputs(raw, when, defaults)
        for raw, when in zip(raw_records(frame), event_times(frame), strict=True)
    ]
    return _matrix(rows, SEGMENT_INPUTS)


def encode_frame(frame: pd.DataFrame, defaults: Mapping[str, float]) -> list[dict[str, float]]:
    """encode_inputs (customer + turn) of every row; feed to :func:`escalation_matrix` etc.

    Rows of decided turns also carry their conversation inputs (computed point in time
    by :func:`training.data.conversation.with_conversation`), so either layout can be
    cut from the same encoding."""
    rows = [
        encode_inputs(raw, ctx, defaults)
        for raw, ctx in zip(raw_records(frame), turn_contexts(frame), strict=True)
    ]
    if has_conversation_columns(frame):
        values = frame[list(CONVERSATION_INPUTS)].to_numpy(dtype=np.float64).tolist()
        for row, conv in zip(rows, values, strict=True):
            row.update(zip(CONVERSATION_INPUTS, conv, strict=True))
    return rows


def escalation_matrix(
    encoded: Sequence[Mapping[str, float]], names: Sequence[str] = ESCALATION_INPUTS
) -> np.ndarray:
    """Escalation-input matrix of encoded rows (ESCALATION_INPUTS or the conversation
    layout, ``names`` as the manifest lists them)."""
    return _matrix(encoded, names)


def nba_matrix(
    encoded: Sequence[Mapping[str, float]],
    actions: Sequence[str],
    names: Sequence[str] = NBA_INPUTS,
) -> np.ndarray:
    """NBA-input matrix: each encoded row with the one-hot of its (logged) action."""
    rows = [{**row, **action_inputs(a)} for row, a in zip(encoded, actions, strict=True)]
    return _matrix(rows, names)


def all_actions_matrix(
    encoded: Sequence[Mapping[str, float]], names: Sequence[str] = NBA_INPUTS
) -> np.ndarray:
    """NBA inputs for every row x every action: (n·7) rows, row-major, ACTIONS order.

    This is the batch the server sends in one ONNX call to score all actions.
    """
    one_hots = [action_inputs(a) for a in ACTIONS]
    rows = [{**row, **hot} for row in encoded for hot in one_hots]
    return _matrix(rows, names)
