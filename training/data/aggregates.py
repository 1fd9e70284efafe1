"""Derive the feature-view sources (support_history, engagement) from the raw tables.

Point in time: a row stamped ``t`` uses nothing after ``t``.

* support_history: a ticket counts in tickets_30d/90d, the category counts and
  avg_sentiment_90d from its OPEN time ``o`` while ``o <= t < o + window``; its
  escalation, resolution hours and csat count from its CLOSE time ``c`` (outcomes are
  unknown before) while ``c <= t < c + 90d``; last_csat is the csat of the latest
  closed ticket that has one. One row per customer per change point (open, close,
  window expiry); changes at the same instant collapse into one row; rows after the
  end of the data are dropped.
* engagement: weekly snapshots; the snapshot at ``t`` sums the daily rows of the 28
  days ``[t - 28d, t)`` (strictly before ``t``). Every customer gets every snapshot,
  zeros included, so engagement is fresh at serving time.

Everything is vectorized per chunk of customers (customers are independent).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from training.data.contract import ENGAGEMENT, NS, timestamp_ns, to_timestamp
from training.data.support_history import support_history_source
from training.sim.config import DAY, ENGAGEMENT_WINDOW_DAYS, snapshot_times
from training.sim.io import CustomerStream, TableWriters

_ENGAGEMENT_SUMS = ("sessions", "page_views", "minutes", "product_usage")


def engagement_windows(
    cust: np.ndarray,
    day_ns: np.ndarray,
    values: dict[str, np.ndarray],
    n_customers: int,
    snaps_ns: np.ndarray,
) -> dict[str, np.ndarray]:
    """Rolling 28-day sums at each snapshot, as ``(n_customers, n_snapshots)`` arrays.

    Each daily row is added to every snapshot ``t`` with ``t - 28d <= day < t``.
    Keys: the names in ``values`` plus ``active_days``.
    """
    n_snap = len(snaps_ns)
    width = ENGAGEMENT_WINDOW_DAYS * DAY * NS
    first = np.searchsorted(snaps_ns, day_ns, side="right")  # first snapshot after the day
    out = {k: np.zeros(n_customers * n_snap) for k in (*values, "active_days")}
    step = int(np.min(np.diff(snaps_ns))) if n_snap > 1 else width
    for offset in range(-(-width // step) + 1):
        j = first + offset
        ok = j < n_snap
        ok[ok] &= snaps_ns[j[ok]] - width <= day_ns[ok]
        if not ok.any():
            continue
        flat = cust[ok] * n_snap + j[ok]
        out["active_days"] += np.bincount(flat, minlength=n_customers * n_snap)
        for name, v in values.items():
            out[name] += np.bincount(flat, weights=v[ok], minlength=n_customers * n_snap)
    return {k: v.reshape(n_customers, n_snap) for k, v in out.items()}


def engagement_source(daily: pa.Table, customer_ids: pa.Array, snaps_ns: np.ndarray) -> pa.Table:
    """engagement.parquet rows for ``customer_ids`` (sorted) from their daily rows."""
    cust = pc.index_in(daily["customer_id"], value_set=customer_ids).to_numpy(zero_copy_only=False)
    if len(cust) and np.isnan(cust.astype(np.float64)).any():
        raise ValueError("engagement_daily has customers outside the customer list")
    values = {k: daily[k].to_numpy().astype(np.float64) for k in _ENGAGEMENT_SUMS}
    win = engagement_windows(
        cust.astype(np.int64),
        timestamp_ns(daily["event_timestamp"]),
        values,
        len(customer_ids),
        snaps_ns,
    )
    n, n_snap = len(customer_ids), len(snaps_ns)
    ts = to_timestamp(np.tile(snaps_ns, n))
    cols = {
        "customer_id": pc.take(customer_ids, np.repeat(np.arange(n), n_snap)),
        "event_timestamp": ts,
        "created_timestamp": ts,
        "sessions_28d": np.rint(win["sessions"].ravel()).astype(np.int64),
        "page_views_28d": np.rint(win["page_views"].ravel()).astype(np.int64),
        "minutes_28d": np.round(win["minutes"].ravel(), 6),
        "product_usage_28d": np.round(win["product_usage"].ravel(), 6),
        "active_days_28d": np.rint(win["active_days"].ravel()).astype(np.int64),
    }
    return pa.table(cols, schema=ENGAGEMENT.arrow_schema())


_TICKET_COLUMNS = [
    "customer_id",
    "event_timestamp",
    "closed_at",
    "issue_category",
    "sentiment",
    "resolution_hours",
    "csat",
    "escalated",
]


def derive_sources(
    data_dir: Path,
    end: datetime,
    days: int = 180,
    out_dir: Path | None = None,
    chunk_customers: int = 50_000,
) -> None:
    """Rebuild support_history.parquet and engagement.parquet from the raw tables.

    Reads customer_profile (customer list), tickets and engagement_daily of ``data_dir``
    (both sorted by customer_id, as the simulator writes them) chunk by chunk and writes
    to ``out_dir`` (default ``data_dir``). ``end`` is the end of the data (snapshots are
    weekly back from it over ``days``); rows after ``end`` are dropped.
    """
    out_dir = out_dir or data_dir
    end_s = int(end.timestamp())
    snaps_ns = snapshot_times(end_s, end_s - days * DAY) * NS
    ids = pc.unique(
        pq.read_table(data_dir / "customer_profile.parquet", columns=["customer_id"])["customer_id"]
    )
    ids = pc.take(ids, pc.sort_indices(ids))
    tickets = CustomerStream(data_dir / "tickets.parquet", _TICKET_COLUMNS)
    daily = CustomerStream(
        data_dir / "engagement_daily.parquet", ["customer_id", "event_timestamp", *_ENGAGEMENT_SUMS]
    )
    writers = TableWriters(out_dir)
    try:
        for lo in range(0, len(ids), chunk_customers):
            chunk = ids.slice(lo, chunk_customers)
            last = chunk[-1].as_py()
            writers.write(
                "support_history", support_history_source(tickets.take_until(last), end_s * NS)
            )
            writers.write("engagement", engagement_source(daily.take_until(last), chunk, snaps_ns))
        writers.close()
    except BaseException:
        writers.abort()
        raise
