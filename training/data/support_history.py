"""The support_history source: change-point rows of rolling ticket aggregates.

Point-in-time rules: see :mod:`training.data.aggregates`, which derives both sources.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelio.vocab import ISSUE_CATEGORIES
from training.data.contract import NS, SUPPORT_HISTORY, timestamp_ns, to_timestamp
from training.sim.config import DAY, LONG_WINDOW_DAYS, SHORT_WINDOW_DAYS


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
