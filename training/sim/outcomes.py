"""Sequential outcome draws: each ticket sees the history its earlier tickets produced.

Tickets of a customer are processed in open order, vectorized across customers: step k
handles every customer's k-th ticket, and within it the turns of its conversation. The
history features are computed with the same windows and open/close semantics as
aggregates.py (tests check they agree exactly).
"""

from __future__ import annotations

import numpy as np

from modelio.vocab import ISSUE_CATEGORIES, SUPPORT_FEATURES
from training.sim.config import DAY, LONG_WINDOW_DAYS, SHORT_WINDOW_DAYS
from training.sim.turns import empty_turns, play_conversations, turn_clock

#: Median resolution hours per category and multipliers per channel.
RESOLUTION_HOURS = np.array([4.0, 8.0, 3.0, 30.0, 6.0, 2.0])
CHANNEL_SPEED = np.array([1.0, 1.0, 1.3, 3.0, 0.6])
_BILLING, _TECH = ISSUE_CATEGORIES.index("billing"), ISSUE_CATEGORIES.index("technical")
HISTORY = tuple(f for f in SUPPORT_FEATURES if f != "last_ticket_ts")


def _history(tk: dict[str, np.ndarray], sel: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Support-history features of tickets ``sel`` (each the k-th of its customer) at open."""
    t = tk["open_s"][sel]
    prev = sel[:, None] - k + np.arange(k)[None, :]  # the customer's earlier tickets
    in30 = tk["open_s"][prev] > (t - SHORT_WINDOW_DAYS * DAY)[:, None]
    in90 = tk["open_s"][prev] > (t - LONG_WINDOW_DAYS * DAY)[:, None]
    close = tk["close_s"][prev]
    closed = (close <= t[:, None]) & (close > (t - LONG_WINDOW_DAYS * DAY)[:, None])
    cat_prev, cat = tk["category"][prev], tk["category"][sel]
    n90 = 1 + in90.sum(axis=1)
    n_closed = closed.sum(axis=1)
    res_sum = (closed * tk["resolution_hours"][prev]).sum(axis=1)
    rated = (close <= t[:, None]) & ~np.isnan(tk["csat"][prev])
    last = (
        np.argmax(np.where(rated, close, -1), axis=1) if k else np.zeros(len(sel), dtype=np.int64)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        avg_res = np.where(n_closed > 0, res_sum / n_closed, np.nan)
    return {
        "tickets_30d": 1 + in30.sum(axis=1),
        "tickets_90d": n90,
        "escalations_90d": (closed & tk["escalated"][prev]).sum(axis=1),
        "billing_tickets_90d": (cat == _BILLING) + (in90 & (cat_prev == _BILLING)).sum(axis=1),
        "technical_tickets_90d": (cat == _TECH) + (in90 & (cat_prev == _TECH)).sum(axis=1),
        "avg_resolution_hours_90d": avg_res,
        "avg_sentiment_90d": (tk["sentiment"][sel] + (in90 * tk["sentiment"][prev]).sum(axis=1))
        / n90,
        "last_csat": np.where(
            rated.any(axis=1), tk["csat"][prev[np.arange(len(sel)), last]], np.nan
        )
        if k
        else np.full(len(sel), np.nan),
    }


def resolve_tickets(
    tk: dict[str, np.ndarray],
    sel: np.ndarray,
    success: np.ndarray,
    last_index: np.ndarray | None = None,
    last_t: np.ndarray | None = None,
) -> None:
    """Resolution hours, close time, csat and turn count of tickets ``sel`` (in place);
    the ticket closes a minute after its last decided turn (``last_t``, default the
    open time) at the earliest; ``last_index`` is that turn's index (default the ticket's)."""
    if last_index is None:
        last_index = tk["turn_index"][sel]
    if last_t is None:
        last_t = tk["open_s"][sel]
    esc = tk["escalated"][sel]
    hours = (
        RESOLUTION_HOURS[tk["category"][sel]]
        * CHANNEL_SPEED[tk["channel"][sel]]
        * np.where(esc, 3.0, 1.0)
        * np.where(success == 1, 0.5, 1.0)
        * np.exp(tk["res_noise"][sel])
    )
    seconds = np.maximum(np.round(hours * 3600), 60).astype(np.int64)
    seconds = np.maximum(seconds, last_t - tk["open_s"][sel] + 60)
    tk["resolution_hours"][sel] = seconds / 3600.0
    tk["close_s"][sel] = tk["open_s"][sel] + seconds
    sent = tk["sentiment"][sel]
    # Undecided tickets (success -1) get the average resolution effect.
    solved = np.where(success < 0, 0.45, success)
    score = (
        3.5
        + 0.9 * solved
        - 1.2 * esc
        + 0.9 * sent
        - 0.2 * np.log1p(seconds / 3600.0)
        + tk["csat_noise"][sel]
    )
    answers = tk["u_csat"][sel] < 0.45 + 0.15 * esc + 0.1 * np.maximum(-sent, 0)
    tk["csat"][sel] = np.where(answers, np.clip(np.round(score), 1, 5), np.nan)
    tk["turn_count"][sel] = last_index + tk["extra_turns"][sel] + 2 * esc


def simulate_outcomes(
    tk: dict[str, np.ndarray], static: dict[str, np.ndarray], end_s: int
) -> dict[str, np.ndarray]:
    """Draw every ticket's conversation in open order; returns the truth arrays.

    ``static`` holds the per-ticket profile/engagement/context state; the history
    features are added to it. Output: ``p_escalate`` (n, the first turn's) and per turn
    (n x MAX_TURNS, see ``_PER_TURN``; ``p_success`` n x MAX_TURNS x 7); a cell is a
    decided turn where ``decided`` is set (``action`` -1 elsewhere).
    """
    n = len(tk["open_s"])
    tk.update(
        close_s=np.zeros(n, dtype=np.int64),
        resolution_hours=np.zeros(n),
        csat=np.full(n, np.nan),
        escalated=np.zeros(n, dtype=bool),
        turn_count=np.zeros(n, dtype=np.int64),
    )
    for name in HISTORY:
        static[name] = np.zeros(n)
    out = empty_turns(n)
    turn_clock(tk)
    for k in range(int(tk["seq"].max(initial=-1)) + 1):
        sel = np.flatnonzero(tk["seq"] == k)
        for name, v in _history(tk, sel, k).items():
            static[name][sel] = v
        s = {key: v[sel] for key, v in static.items()}
        escalated, success, last_index, last_t = play_conversations(tk, sel, s, out, end_s)
        tk["escalated"][sel] = escalated
        resolve_tickets(tk, sel, success.astype(np.int64), last_index, last_t)
    return {"ticket_p_escalate": out["p_escalate"][:, 0].copy(), **out}
