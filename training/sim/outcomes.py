"""Sequential outcome draws: each ticket sees the history its earlier tickets produced.

Tickets of a customer are processed in open order, vectorized across customers: step k
handles every customer's k-th ticket. The history features are computed with the same
windows and open/close semantics as aggregates.py (tests check they agree exactly).
"""

from __future__ import annotations

import numpy as np

from modelio.vocab import ACTIONS, ISSUE_CATEGORIES, SUPPORT_FEATURES
from training.sim.config import DAY, LONG_WINDOW_DAYS, SHORT_WINDOW_DAYS
from training.sim.truth import (
    eligible_actions,
    escalation_logit,
    logging_policy,
    sigmoid,
    success_probabilities,
)

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


def _draw_action(u: np.ndarray, policy: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(policy, axis=1)
    return np.minimum((u[:, None] > cdf).sum(axis=1), policy.shape[1] - 1)


def resolve_tickets(tk: dict[str, np.ndarray], sel: np.ndarray, success: np.ndarray) -> None:
    """Resolution hours, close time, csat and turn count of tickets ``sel`` (in place)."""
    esc = tk["escalated"][sel]
    hours = (
        RESOLUTION_HOURS[tk["category"][sel]]
        * CHANNEL_SPEED[tk["channel"][sel]]
        * np.where(esc, 3.0, 1.0)
        * np.where(success == 1, 0.5, 1.0)
        * np.exp(tk["res_noise"][sel])
    )
    seconds = np.maximum(np.round(hours * 3600), 60).astype(np.int64)
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
    tk["turn_count"][sel] = tk["turn_index"][sel] + tk["extra_turns"][sel] + 2 * esc


def _values(
    out: dict[str, np.ndarray],
    sel: np.ndarray,
    policy: np.ndarray,
    eligible: np.ndarray,
    p_success: np.ndarray,
) -> None:
    """True values of the logging, oracle and uniform policies for tickets ``sel``."""
    masked = np.where(eligible, p_success, -np.inf)
    out["logging_value"][sel] = (policy * p_success).sum(axis=1)
    out["oracle_value"][sel] = masked.max(axis=1)
    out["best_action"][sel] = masked.argmax(axis=1)
    out["uniform_value"][sel] = (eligible * p_success).sum(axis=1) / eligible.sum(axis=1)


def simulate_outcomes(
    tk: dict[str, np.ndarray], static: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Draw every ticket's outcome in open order; returns per-ticket truth arrays.

    ``static`` holds the per-ticket profile/engagement/context state; the history
    features are added to it. Output keys: ``p_escalate``, ``action`` (-1 when not
    logged), ``propensity``, ``success`` (-1 when not logged) and ``p_success`` (n, 7).
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
    out = {
        "p_escalate": np.zeros(n),
        "action": np.full(n, -1),
        "propensity": np.full(n, np.nan),
        "success": np.full(n, -1),
        "p_success": np.zeros((n, len(ACTIONS))),
        "logging_value": np.zeros(n),
        "oracle_value": np.zeros(n),
        "uniform_value": np.zeros(n),
        "best_action": np.zeros(n, dtype=np.int64),
    }
    for k in range(int(tk["seq"].max(initial=-1)) + 1):
        sel = np.flatnonzero(tk["seq"] == k)
        for name, v in _history(tk, sel, k).items():
            static[name][sel] = v
        s = {key: v[sel] for key, v in static.items()}
        p = sigmoid(escalation_logit(s))
        tk["escalated"][sel] = tk["u_escalate"][sel] < p
        eligible = eligible_actions(s)
        policy = logging_policy(s, eligible)
        action = _draw_action(tk["u_action"][sel], policy)
        p_success = success_probabilities(s, p)
        q = p_success[np.arange(len(sel)), action] / (1.0 - p)
        logged = tk["logged"][sel]
        success = np.where(logged, ~tk["escalated"][sel] & (tk["u_success"][sel] < q), -1)
        resolve_tickets(tk, sel, success.astype(np.int64))
        out["p_escalate"][sel] = p
        out["p_success"][sel] = p_success
        out["action"][sel] = np.where(logged, action, -1)
        out["propensity"][sel] = np.where(logged, policy[np.arange(len(sel)), action], np.nan)
        out["success"][sel] = success
        _values(out, sel, policy, eligible, p_success)
    return out
