"""Training and serving build identical model inputs (no training/serving skew).

Training path: a frame of raw features (Feast point-in-time join) → training.data.inputs →
float32 matrices. Serving path: for each request, a dict of raw features (built like an
online read: only present values, plain Python types — and, in the second test, read by
the server's own FeastFeatureReader from the materialized online store) plus a
TurnContext → modelio.context.encode_inputs / customer_inputs / action_inputs + vector
with the manifest's defaults. Both must be bit-identical.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelio.context import (
    ESCALATION_INPUTS,
    NBA_INPUTS,
    SEGMENT_INPUTS,
    TurnContext,
    action_inputs,
    customer_inputs,
    encode_inputs,
    has_consent,
    vector,
)
from modelio.manifest import load_manifest
from modelio.store import open_store
from modelio.vocab import ACTIONS, FEATURE_SERVICE
from training.data import inputs
from training.data.dataset import features_before, historical_features

from ..conftest import Trained

SAMPLE = 400


@pytest.fixture(scope="module")
def defaults(trained: Trained) -> dict[str, float]:
    return dict(load_manifest(trained.result.version_dir).defaults)


@pytest.fixture(scope="module")
def ticket_rows(trained: Trained) -> pd.DataFrame:
    """Sample tickets with their point-in-time raw features (the training frame)."""
    tickets = pd.read_parquet(trained.data_dir / "tickets.parquet")
    sample = tickets.sample(n=min(SAMPLE, len(tickets)), random_state=5)
    return features_before(open_store(trained.repo), sample)


def _online_like(row: dict[str, Any]) -> dict[str, Any]:
    """The raw-feature dict of a row as an online read returns it (present values only)."""
    out = {}
    for name in inputs.RAW_FEATURES:
        value = row.get(name)
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            continue
        out[name] = value.item() if isinstance(value, np.generic) else value
    return out


def _server_context(row: dict[str, Any]) -> TurnContext:
    when = pd.Timestamp(row["event_timestamp"]).tz_convert(UTC).to_pydatetime()
    return TurnContext(
        channel=row["channel"],
        device=row["device"],
        issue_category=row["issue_category"],
        sentiment=float(row["sentiment"]),
        event_time=when,
        timezone=row["timezone"],
        turn_index=int(row["turn_index"]),
    )


def _server_matrix(rows: list[dict[str, float]], names: tuple[str, ...]) -> np.ndarray:
    return np.asarray([vector(r, names) for r in rows], dtype=np.float32)


def test_sample_covers_the_hard_cases(ticket_rows: pd.DataFrame) -> None:
    raws = inputs.raw_records(ticket_rows)
    assert any(not has_consent(r) for r in raws), "need customers without consent"
    assert any(r.get("last_csat") is None for r in raws), "need missing history values"


def test_escalation_and_nba_inputs_identical(ticket_rows: pd.DataFrame, defaults) -> None:
    encoded = inputs.encode_frame(ticket_rows, defaults)
    train_esc = inputs.escalation_matrix(encoded)
    train_nba = inputs.all_actions_matrix(encoded)

    served = [
        encode_inputs(_online_like(row), _server_context(row), defaults)
        for row in ticket_rows.to_dict("records")
    ]
    np.testing.assert_array_equal(train_esc, _server_matrix(served, ESCALATION_INPUTS))
    per_action = [{**s, **action_inputs(a)} for s in served for a in ACTIONS]
    np.testing.assert_array_equal(train_nba, _server_matrix(per_action, NBA_INPUTS))


def test_segment_inputs_identical(ticket_rows: pd.DataFrame, defaults) -> None:
    train_seg = inputs.segment_matrix(ticket_rows, defaults)
    served = [
        customer_inputs(_online_like(row), _server_context(row).event_time, defaults)
        for row in ticket_rows.to_dict("records")
    ]
    np.testing.assert_array_equal(train_seg, _server_matrix(served, SEGMENT_INPUTS))


def test_online_store_read_by_the_server_matches_training(trained: Trained, defaults) -> None:
    """Materialize, read with the server's FeastFeatureReader, compare with the training join."""
    from server.features.feast_reader import FeastFeatureReader
    from training.feast_ops import materialize

    as_of = datetime.now(UTC).replace(microsecond=0)
    materialize(trained.repo, "sqlite", end=as_of)
    customers = pd.read_parquet(trained.data_dir / "customer_profile.parquet")["customer_id"]
    ids = [*sorted(customers.unique())[:300], "C9999999"]  # + an unknown customer
    events = pd.DataFrame({"customer_id": ids, "event_timestamp": pd.Timestamp(as_of)})
    frame = historical_features(open_store(trained.repo), events)
    for name, value in {
        "channel": "web_chat",
        "device": "mobile",
        "issue_category": "billing",
        "sentiment": -0.25,
        "timezone": "Europe/Paris",
        "turn_index": 2,
    }.items():
        frame[name] = value
    train = inputs.escalation_matrix(inputs.encode_frame(frame, defaults))

    reader = FeastFeatureReader(open_store(trained.repo), FEATURE_SERVICE, clock=as_of.timestamp)
    features = reader.read(ids)
    ctx = TurnContext("web_chat", "mobile", "billing", -0.25, as_of, "Europe/Paris", turn_index=2)
    served = [encode_inputs(f.values, ctx, defaults) for f in features]
    np.testing.assert_array_equal(train, _server_matrix(served, ESCALATION_INPUTS))
    assert not features[-1].found
