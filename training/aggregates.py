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

from modelio.vocab import ISSUE_CATEGORIES
from training.data.contract import ENGAGEMENT, SUPPORT_HISTORY, timestamp_ns, to_timestamp
from training.sim.config import (
    DAY,
    ENGAGEMENT_WINDOW_DAYS,
    LONG_WINDOW_DAYS,
    SHORT_WINDOW_DAYS,
    snapshot_times,
)
from training.sim.io import CustomerStream, TableWriters

NS = 1_000_000_000
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


def _group_cumsum(x: np.ndarray, group: np.ndarray, starts: np.ndarray) -> np.ndarray:
    cs = np.cumsum(x)
    base = (cs - x)[starts]
    return cs - base[group]


def _group_ffill(valid: np.ndarray, group: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Index of the latest valid row of the same group at or before each row (-1 if none)."""
    idx = np.maximum.accumulate(np.where(valid, np.arange(len(valid)), -1))
    return np.where(idx >= starts[group], idx, -1)


def support_history_arrays(
    code: np.ndarray,
    open_ns: np.ndarray,
    close_ns: np.ndarray,
    category: np.ndarray,
    sentiment: np.ndarray,
    resolution: np.ndarray,
    csat: np.ndarray,
    escalated: np.ndarray,
    end_ns: int,
) -> dict[str, np.ndarray]:
    """Change-point rows of the support history for tickets of customers ``code``.

    ``category`` holds ISSUE_CATEGORIES indexes. Returns arrays ``code``, ``t`` (ns) and
    one array per SUPPORT_FEATURES column, sorted by (code, t), keys unique, t <= end_ns.
    """
    n = len(code)
    short, long_ = SHORT_WINDOW_DAYS * DAY * NS, LONG_WINDOW_DAYS * DAY * NS
    z, one = np.zeros(n), np.ones(n)
    bill = (category == ISSUE_CATEGORIES.index("billing")).astype(np.float64)
    tech = (category == ISSUE_CATEGORIES.index("technical")).astype(np.float64)
    esc, sent, res = escalated.astype(np.float64), sentiment.astype(np.float64), resolution
    # Five events per ticket: open, open+30d, open+90d, close, close+90d.
    t = np.concatenate([open_ns, open_ns + short, open_ns + long_, close_ns, close_ns + long_])
    deltas = {
        "tickets_30d": np.concatenate([one, -one, z, z, z]),
        "tickets_90d": np.concatenate([one, z, -one, z, z]),
        "billing_tickets_90d": np.concatenate([bill, z, -bill, z, z]),
        "technical_tickets_90d": np.concatenate([tech, z, -tech, z, z]),
        "escalations_90d": np.concatenate([z, z, z, esc, -esc]),
        "sentiment_sum": np.concatenate([sent, z, -sent, z, z]),
        "resolution_sum": np.concatenate([z, z, z, res, -res]),
        "closed_90d": np.concatenate([z, z, z, one, -one]),
    }
    nan = np.full(n, np.nan)
    csat_ev = np.concatenate([nan, nan, nan, csat, nan])
    is_open = np.concatenate([one, z, z, z, z]).astype(bool)
    codes = np.tile(code, 5)
    order = np.lexsort((t, codes))  # stable: same-instant events keep ticket order
    t, codes = t[order], codes[order]
    starts_flag = np.r_[True, codes[1:] != codes[:-1]]
    starts = np.flatnonzero(starts_flag)
    group = np.cumsum(starts_flag) - 1
    sums = {k: _group_cumsum(v[order], group, starts) for k, v in deltas.items()}
    csat_idx = _group_ffill(~np.isnan(csat_ev[order]), group, starts)
    open_idx = _group_ffill(is_open[order], group, starts)
    keep = np.r_[(codes[1:] != codes[:-1]) | (t[1:] != t[:-1]), True] & (t <= end_ns)
    out = {"code": codes[keep], "t": t[keep]}
    for name in (
        "tickets_30d",
        "tickets_90d",
        "escalations_90d",
        "billing_tickets_90d",
        "technical_tickets_90d",
    ):
        out[name] = np.rint(sums[name][keep]).astype(np.int64)
    n_opened, n_closed = out["tickets_90d"], np.rint(sums["closed_90d"][keep])
    with np.errstate(invalid="ignore", divide="ignore"):
        avg_res = np.where(n_closed > 0, sums["resolution_sum"][keep] / n_closed, np.nan)
        avg_sent = np.where(n_opened > 0, sums["sentiment_sum"][keep] / n_opened, np.nan)
    # Rolling sums leave ~1e-16 residues; clip them back into the valid ranges.
    out["avg_resolution_hours_90d"] = np.maximum(avg_res, 0.0)
    out["avg_sentiment_90d"] = np.clip(avg_sent, -1.0, 1.0)
    ci = csat_idx[keep]
    out["last_csat"] = np.where(ci >= 0, csat_ev[order][np.maximum(ci, 0)], np.nan)
    out["last_ticket_ts"] = t[np.maximum(open_idx[keep], 0)] // NS
    return out


def support_history_source(tickets: pa.Table, end_ns: int) -> pa.Table:
    """support_history.parquet rows for all customers in ``tickets`` (raw ticket columns)."""
    tickets = tickets.sort_by([("customer_id", "ascending"), ("event_timestamp", "ascending")])
    enc = pc.dictionary_encode(tickets["customer_id"]).combine_chunks()
    category = pc.index_in(tickets["issue_category"], value_set=pa.array(ISSUE_CATEGORIES))
    open_ns = timestamp_ns(tickets["event_timestamp"])
    arr = support_history_arrays(
        enc.indices.to_numpy().astype(np.int64),
        open_ns,
        timestamp_ns(tickets["closed_at"]),
        category.to_numpy(zero_copy_only=False),
        tickets["sentiment"].to_numpy(),
        tickets["resolution_hours"].to_numpy(),
        tickets["csat"].to_numpy(zero_copy_only=False),
        tickets["escalated"].to_numpy(zero_copy_only=False),
        end_ns,
    )
    ts = to_timestamp(arr.pop("t"))
    cols: dict[str, object] = {
        "customer_id": pc.take(enc.dictionary, arr.pop("code")),
        "event_timestamp": ts,
        "created_timestamp": ts,
    }
    cols.update(arr)
    return pa.table(cols, schema=SUPPORT_HISTORY.arrow_schema())


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
