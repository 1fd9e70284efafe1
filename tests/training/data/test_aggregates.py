"""Point-in-time semantics of training/data/aggregates.py on hand-built raw tables."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from training.data.aggregates import engagement_source
from training.data.contract import ENGAGEMENT_DAILY, NS, SUPPORT_HISTORY, TICKETS
from training.data.support_history import support_history_source

T0 = datetime(2025, 1, 1, tzinfo=UTC)
END = T0 + timedelta(days=200)
H, D = timedelta(hours=1), timedelta(days=1)


def _tickets(rows: list[dict]) -> pa.Table:
    df = pd.DataFrame(rows)
    df["closed_at"] = df["event_timestamp"] + pd.to_timedelta(df["resolution_hours"], unit="h")
    defaults = {
        "channel": "web_chat",
        "device": "desktop",
        "timezone": "UTC",
        "turn_index": 1,
        "turn_count": 2,
    }
    for name, value in defaults.items():
        df[name] = value
    for name in ("event_timestamp", "closed_at"):
        df[name] = pd.to_datetime(df[name], utc=True).astype("datetime64[ns, UTC]")
    return pa.Table.from_pandas(
        df[TICKETS.arrow_schema().names], schema=TICKETS.arrow_schema(), preserve_index=False
    )


def _history(rows: list[dict]) -> pd.DataFrame:
    out = support_history_source(_tickets(rows), int(END.timestamp()) * NS).to_pandas()
    assert out.columns.tolist() == SUPPORT_HISTORY.arrow_schema().names
    return out


def _t(
    i: str, cust: str, opened: datetime, hours: float, cat: str, sent: float, csat: float, esc: bool
) -> dict:
    return {
        "ticket_id": i,
        "customer_id": cust,
        "event_timestamp": opened,
        "resolution_hours": hours,
        "issue_category": cat,
        "sentiment": sent,
        "csat": csat,
        "escalated": esc,
    }


def test_open_close_and_window_expiry_rows() -> None:
    rows = [
        _t("T1", "C1", T0, 10.0, "billing", -0.5, 2.0, True),
        _t("T2", "C1", T0 + 20 * D, 4.0, "technical", 0.5, math.nan, False),
    ]
    h = _history(rows)
    nan = math.nan
    expected = [
        # offset from T0, t30, t90, esc, bill, tech, avg_res, avg_sent, last_csat, last_ts
        (0 * H, 1, 1, 0, 1, 0, nan, -0.5, nan, T0),
        (10 * H, 1, 1, 1, 1, 0, 10.0, -0.5, 2.0, T0),  # escalation counted at close only
        (20 * D, 2, 2, 1, 1, 1, 10.0, 0.0, 2.0, T0 + 20 * D),
        (20 * D + 4 * H, 2, 2, 1, 1, 1, 7.0, 0.0, 2.0, T0 + 20 * D),  # T2 has no csat
        (30 * D, 1, 2, 1, 1, 1, 7.0, 0.0, 2.0, T0 + 20 * D),  # T1 leaves the 30-day window
        (50 * D, 0, 2, 1, 1, 1, 7.0, 0.0, 2.0, T0 + 20 * D),
        (90 * D, 0, 1, 1, 0, 1, 7.0, 0.5, 2.0, T0 + 20 * D),  # T1 open leaves 90 days
        (90 * D + 10 * H, 0, 1, 0, 0, 1, 4.0, 0.5, 2.0, T0 + 20 * D),  # ... then its close
        (110 * D, 0, 0, 0, 0, 0, 4.0, nan, 2.0, T0 + 20 * D),
        (110 * D + 4 * H, 0, 0, 0, 0, 0, nan, nan, 2.0, T0 + 20 * D),
    ]
    assert len(h) == len(expected)
    for (_, row), exp in zip(h.iterrows(), expected, strict=True):
        off, t30, t90, esc, bill, tech, res, sent, csat, last = exp
        assert row["event_timestamp"] == pd.Timestamp(T0 + off)
        assert row["created_timestamp"] == row["event_timestamp"]
        got = (
            row["tickets_30d"],
            row["tickets_90d"],
            row["escalations_90d"],
            row["billing_tickets_90d"],
            row["technical_tickets_90d"],
        )
        assert got == (t30, t90, esc, bill, tech), off
        for name, value in (
            ("avg_resolution_hours_90d", res),
            ("avg_sentiment_90d", sent),
            ("last_csat", csat),
        ):
            assert (math.isnan(value) and math.isnan(row[name])) or row[name] == pytest.approx(
                value
            ), (off, name)
        assert row["last_ticket_ts"] == int(last.timestamp())


def test_same_instant_changes_collapse_and_future_rows_drop() -> None:
    rows = [
        _t("T3", "C2", T0, 1.0, "general", 0.2, 5.0, False),
        _t("T4", "C2", T0 + H, 2.0, "shipping", -0.2, 4.0, True),  # opens when T3 closes
        _t("T5", "C3", END - 10 * D, 3.0, "account", 0.0, math.nan, False),
    ]
    h = _history(rows)
    assert not h.duplicated(["customer_id", "event_timestamp"]).any()
    c2 = h[h["customer_id"] == "C2"].reset_index(drop=True)
    at = c2[c2["event_timestamp"] == pd.Timestamp(T0 + H)].iloc[0]
    # One row holds both the close of T3 and the open of T4.
    assert (at["tickets_30d"], at["last_csat"], at["avg_resolution_hours_90d"]) == (2, 5.0, 1.0)
    assert at["last_ticket_ts"] == int((T0 + H).timestamp())
    c3 = h[h["customer_id"] == "C3"]
    assert c3["event_timestamp"].tolist() == [
        pd.Timestamp(END - 10 * D),
        pd.Timestamp(END - 10 * D + 3 * H),
    ]
    assert (h["event_timestamp"] <= pd.Timestamp(END)).all()


def test_engagement_snapshots_use_days_strictly_before() -> None:
    snaps = np.array([int((T0 + 28 * D).timestamp()), int((T0 + 35 * D).timestamp())]) * NS
    daily = pd.DataFrame(
        {
            "customer_id": ["C1", "C1", "C1"],
            "event_timestamp": pd.to_datetime([T0, T0 + 27 * D, T0 + 28 * D], utc=True).astype(
                "datetime64[ns, UTC]"
            ),
            "sessions": [1, 2, 4],
            "page_views": [3, 5, 7],
            "minutes": [1.5, 2.5, 3.5],
            "product_usage": [0.1, 0.2, 0.4],
        }
    )
    table = pa.Table.from_pandas(
        daily, schema=ENGAGEMENT_DAILY.arrow_schema(), preserve_index=False
    )
    out = engagement_source(table, pa.array(["C1", "C9"]), snaps).to_pandas()
    c1 = out[out["customer_id"] == "C1"].reset_index(drop=True)
    # Snapshot at day 28: days 0..27 (day 28 itself excluded); at day 35: days 7..34.
    assert c1["sessions_28d"].tolist() == [3, 6]
    assert c1["page_views_28d"].tolist() == [8, 12]
    assert c1["minutes_28d"].tolist() == pytest.approx([4.0, 6.0])
    assert c1["product_usage_28d"].tolist() == pytest.approx([0.3, 0.6])
    assert c1["active_days_28d"].tolist() == [2, 2]
    c9 = out[out["customer_id"] == "C9"]
    assert len(c9) == 2 and (c9["active_days_28d"] == 0).all()  # inactive customers get zero rows
