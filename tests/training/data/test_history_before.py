"""A training ticket's history inputs are the ones the online store serves at its time.

The support-history row of a ticket is stamped at the ticket's own open time, and at
decision time the online store does not hold it yet. ``features_before`` (what training
joins) must therefore see only strictly earlier tickets: a customer's first ticket has no
history, ``tickets_30d`` counts the earlier tickets only, and the encoded inputs equal
what the server reads from a store materialized up to just before the ticket.
"""

from __future__ import annotations

import shutil
from datetime import UTC, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.prepare import copy_repo
from modelio.context import ESCALATION_INPUTS, TurnContext, customer_inputs, encode_inputs, vector
from modelio.manifest import load_manifest
from modelio.store import open_store
from modelio.vocab import FEATURE_SERVICE
from training.data import inputs
from training.data.dataset import JUST_BEFORE, features_before, historical_features
from training.feast_ops import apply_repo

from ..conftest import Trained

DAY_S = 86_400.0


@pytest.fixture(scope="module")
def tickets(trained: Trained) -> pd.DataFrame:
    frame = pd.read_parquet(trained.data_dir / "tickets.parquet")
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    return frame.sort_values(["customer_id", "event_timestamp"], ignore_index=True)


@pytest.fixture(scope="module")
def defaults(trained: Trained) -> dict[str, float]:
    return dict(load_manifest(trained.result.version_dir).defaults)


def _history(frame: pd.DataFrame, defaults: dict[str, float]) -> pd.DataFrame:
    rows = [
        customer_inputs(raw, when, defaults)
        for raw, when in zip(inputs.raw_records(frame), inputs.event_times(frame), strict=True)
    ]
    return pd.DataFrame(rows, index=frame.index)


def test_history_counts_only_earlier_tickets(trained: Trained, tickets, defaults) -> None:
    first = tickets.drop_duplicates("customer_id").sample(150, random_state=3)
    later = tickets[tickets.duplicated("customer_id")].sample(150, random_state=4)
    sample = pd.concat([first, later])
    store = open_store(trained.repo)
    got = _history(features_before(store, sample, FEATURE_SERVICE), defaults)
    old = _history(historical_features(store, sample, FEATURE_SERVICE), defaults)

    assert (got.loc[first.index, "has_history"] == 0).all(), "a first ticket has no history"
    assert (got.loc[first.index, "tickets_30d"] == defaults["tickets_30d"]).all()
    assert (old.loc[first.index, "has_history"] == 1).all(), "the old join saw the ticket"
    assert (old["days_since_last_ticket"] == 0).all()

    for i, row in later.iterrows():
        mine = tickets[tickets["customer_id"] == row["customer_id"]]["event_timestamp"]
        when = row["event_timestamp"]
        earlier = mine[mine < when]
        recent = int((earlier >= when - timedelta(days=30)).sum())
        expected_30d = defaults["tickets_30d"] if got.loc[i, "has_history"] == 0 else recent
        assert got.loc[i, "tickets_30d"] == expected_30d
        if got.loc[i, "has_history"] == 1:  # else the earlier ones aged out of the 180-day TTL
            age = (when - earlier.max()).total_seconds() / DAY_S
            assert got.loc[i, "days_since_last_ticket"] == pytest.approx(age)
            assert got.loc[i, "days_since_last_ticket"] > 0


def test_training_row_equals_what_the_online_store_serves(
    trained: Trained, tickets, defaults, tmp_path: Path
) -> None:
    """Materialize a copy of the repo up to just before a ticket, read it with the
    server's reader at the ticket's time and encode it with modelio: the training row."""
    from server.features.feast_reader import FeastFeatureReader

    repo = copy_repo(tmp_path / "repo")
    for part in trained.data_dir.glob("*.parquet"):
        shutil.copy(part, repo / "data" / part.name)
    apply_repo(repo)
    repeat = tickets[tickets.duplicated("customer_id")]
    ticket = repeat.iloc[len(repeat) // 2]
    when = ticket["event_timestamp"]
    # every view's latest row before the ticket (materialize_incremental would start at
    # "now - TTL", after the ticket)
    end = (when - JUST_BEFORE).to_pydatetime()
    open_store(repo).materialize(start_date=end - timedelta(days=400), end_date=end)

    others = sorted(set(tickets["customer_id"]) - {ticket["customer_id"]})[:200]
    ids = [ticket["customer_id"], *others]
    context = {"channel": ticket["channel"], "device": ticket["device"],
               "issue_category": ticket["issue_category"], "sentiment": ticket["sentiment"],
               "timezone": ticket["timezone"], "turn_index": ticket["turn_index"]}  # fmt: skip
    events = pd.DataFrame({"customer_id": ids, "event_timestamp": when, **context})
    train = inputs.escalation_matrix(
        inputs.encode_frame(features_before(open_store(repo), events), defaults)
    )
    reader = FeastFeatureReader(open_store(repo), FEATURE_SERVICE, clock=when.timestamp)
    ctx = TurnContext(
        channel=ticket["channel"],
        device=ticket["device"],
        issue_category=ticket["issue_category"],
        sentiment=float(ticket["sentiment"]),
        event_time=when.tz_convert(UTC).to_pydatetime(),
        timezone=ticket["timezone"],
        turn_index=int(ticket["turn_index"]),
    )
    served = [encode_inputs(f.values, ctx, defaults) for f in reader.read(ids)]
    np.testing.assert_array_equal(
        train, np.asarray([vector(s, ESCALATION_INPUTS) for s in served], dtype=np.float32)
    )
    # and the ticket's own training row (the frame the models are fitted on) is that row
    own = features_before(open_store(repo), tickets.loc[[ticket.name]])
    mine = inputs.escalation_matrix(inputs.encode_frame(own, defaults))
    np.testing.assert_array_equal(mine[0], train[0])
    assert served[0]["days_since_last_ticket"] > 0
