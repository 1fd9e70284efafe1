"""Training sets are point-in-time correct: nothing stamped after an event leaks into it."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from modelio.store import open_store
from training.data.dataset import historical_features


def test_value_changed_after_event_is_not_seen(sources_repo) -> None:
    repo, frames = sources_repo
    profile = frames["customer_profile"].sort_values("event_timestamp")
    counts = profile.groupby("customer_id").size()
    cid = counts[counts >= 2].index[0]
    rows = profile[profile["customer_id"] == cid].reset_index(drop=True)
    first, second = rows.iloc[0], rows.iloc[1]
    between = first["event_timestamp"] + (second["event_timestamp"] - first["event_timestamp"]) / 2
    events = pd.DataFrame(
        {
            "customer_id": [cid, cid, cid],
            "event_timestamp": [
                between,
                second["event_timestamp"] + timedelta(seconds=1),
                first["event_timestamp"] - timedelta(seconds=1),
            ],
            "label": [1, 0, 1],
        }
    )
    frame = historical_features(open_store(repo), events)
    assert frame["label"].tolist() == [1, 0, 1]
    assert frame.loc[0, "monthly_spend"] == first["monthly_spend"]
    assert frame.loc[1, "monthly_spend"] == second["monthly_spend"]
    assert pd.isna(frame.loc[2, "monthly_spend"]), "an event before any snapshot sees nothing"


def test_every_joined_value_is_stamped_at_or_before_its_event(sources_repo) -> None:
    repo, frames = sources_repo
    support = frames["support_history"]
    sample = support.sample(60, random_state=1)
    events = sample[["customer_id"]].copy()
    events["event_timestamp"] = sample["event_timestamp"] + timedelta(hours=1)
    joined = historical_features(open_store(repo), events)
    for (_, event), (_, row) in zip(events.iterrows(), joined.iterrows(), strict=True):
        history = support[
            (support["customer_id"] == event["customer_id"])
            & (support["event_timestamp"] <= event["event_timestamp"])
        ].sort_values("event_timestamp")
        assert row["tickets_90d"] == history.iloc[-1]["tickets_90d"]
