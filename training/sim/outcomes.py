"""Sequential outcome draws: each ticket sees the history its earlier tickets produced.

Tickets of a customer are processed in open order, vectorized across customers: step k
handles every customer's k-th ticket, and within it the turns of its conversation. The
history features are computed with the same windows and open/close semantics as
aggregates.py (tests check they agree exactly).
"""

from __future__ import annotations

import numpy as np

from modelio.vocab import ACTIONS, ISSUE_CATEGORIES, SUPPORT_FEATURES
from training.sim.config import DAY, LONG_WINDOW_DAYS, MAX_TURNS, SHORT_WINDOW_DAYS
from training.sim.tickets import TURN_DRAWS, local_time
from training.sim.truth import (
    eligible_actions,
    logging_policy,
    sigmoid,
    success_probabilities,
    turn_escalation_logit,
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


def _values(
    out: dict[str, np.ndarray],
    at: tuple[np.ndarray, int],
    policy: np.ndarray,
    eligible: np.ndarray,
    p_success: np.ndarray,
) -> None:
    """True values of the logging, oracle and uniform policies at turn cells ``at``."""
    masked = np.where(eligible, p_success, -np.inf)
    out["logging_value"][at] = (policy * p_success).sum(axis=1)
    out["oracle_value"][at] = masked.max(axis=1)
    out["best_action"][at] = masked.argmax(axis=1)
    out["uniform_value"][at] = (eligible * p_success).sum(axis=1) / eligible.sum(axis=1)


#: After a turn the customer goes on with P(continue): higher after a failed action.
CONTINUE_AFTER_FAILURE, CONTINUE_AFTER_SUCCESS = 0.85, 0.25
#: Pre-tanh sentiment step after a turn's outcome (+ uniform noise of this half width).
SENTIMENT_UP, SENTIMENT_DOWN, SENTIMENT_NOISE = 0.35, -0.45, 0.25
_PER_TURN = {
    "decided": bool,
    "at_s": np.int64,
    "sentiment": np.float64,
    "turn_index": np.int64,
    "p_escalate": np.float64,
    "escalated": bool,
    "action": np.int64,
    "propensity": np.float64,
    "success": bool,
    "logging_value": np.float64,
    "oracle_value": np.float64,
    "uniform_value": np.float64,
    "best_action": np.int64,
}
_DRAW = {name: i for i, name in enumerate(TURN_DRAWS)}


def _empty_turns(n: int) -> dict[str, np.ndarray]:
    out = {k: np.zeros((n, MAX_TURNS), dtype=t) for k, t in _PER_TURN.items()}
    out["action"][:] = -1
    out["propensity"][:] = np.nan
    out["p_success"] = np.zeros((n, MAX_TURNS, len(ACTIONS)))
    return out


def _conversations(
    tk: dict[str, np.ndarray],
    sel: np.ndarray,
    s0: dict[str, np.ndarray],
    out: dict[str, np.ndarray],
    end_s: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Play the turns of tickets ``sel``; per-turn truth into ``out`` (rows ``sel``).

    An unlogged ticket has one undecided turn (only its escalation is drawn). A logged
    one is a conversation: at each turn escalation is drawn from the turn's hazard, an
    action from the logging policy (no repeat of a failed action) and its success from
    the truth; the customer goes on after it (more often after a failure) with a
    sentiment that moved down after a failure, up after a success. Returns per ticket:
    escalated, success (-1 undecided), the last turn's index and time."""
    m = len(sel)
    rows = np.arange(m)
    logged = tk["logged"][sel]
    t, sent = tk["open_s"][sel].copy(), tk["sentiment"][sel].astype(np.float64)
    index = tk["turn_index"][sel].astype(np.int64)
    first = sent.copy()
    failed, failed_mask = np.zeros(m, dtype=np.int64), np.zeros((m, len(ACTIONS)), dtype=bool)
    active = np.ones(m, dtype=bool)
    escalated, succeeded = np.zeros(m, dtype=bool), np.zeros(m, dtype=bool)
    last_index, last_t = index.copy(), t.copy()
    for j in range(MAX_TURNS):
        if j == 0:
            u_esc, u_act, u_suc = (tk[k][sel] for k in ("u_escalate", "u_action", "u_success"))
            hour, weekday = s0["local_hour"], s0["weekday"]
        else:
            u = tk["u_turns"][sel, :, j - 1]
            u_esc, u_act, u_suc = (u[:, _DRAW[k]] for k in ("escalate", "action", "success"))
            hour, weekday = local_time(t, tk["zone"][sel])
        s = {**s0, "sentiment": sent, "turn_index": index, "local_hour": hour, "weekday": weekday}
        s.update(conv_failed=failed, conv_first_sentiment=first, conv_failed_mask=failed_mask)
        p = sigmoid(turn_escalation_logit(s))
        esc = u_esc < p
        eligible = eligible_actions(s)
        policy = logging_policy(s, eligible)
        action = _draw_action(u_act, policy)
        p_success = success_probabilities(s, p)
        success = ~esc & (u_suc < p_success[rows, action] / (1.0 - p))
        happened = active & (logged | (j == 0))
        decided = active & logged
        at = (sel[happened], j)
        out["p_escalate"][at], out["escalated"][at] = p[happened], esc[happened]
        out["at_s"][at], out["sentiment"][at] = t[happened], sent[happened]
        out["turn_index"][at] = index[happened]
        d = (sel[decided], j)
        out["decided"][d] = True
        out["action"][d] = action[decided]
        out["propensity"][d] = policy[rows, action][decided]
        out["success"][d] = success[decided]
        out["p_success"][d] = p_success[decided]
        _values(out, d, policy[decided], eligible[decided], p_success[decided])
        escalated |= happened & esc
        succeeded |= decided & success
        last_index, last_t = np.where(happened, index, last_index), np.where(happened, t, last_t)
        if j == MAX_TURNS - 1:
            break
        u = tk["u_turns"][sel, :, j]
        gap = 40 + np.floor(u[:, _DRAW["gap"]] * 200).astype(np.int64)
        go_on = u[:, _DRAW["continue"]] < np.where(
            success, CONTINUE_AFTER_SUCCESS, CONTINUE_AFTER_FAILURE
        )
        lost = decided & ~success
        failed = failed + lost
        failed_mask = failed_mask.copy()
        failed_mask[rows[lost], action[lost]] = True
        step = np.where(success, SENTIMENT_UP, SENTIMENT_DOWN)
        noise = SENTIMENT_NOISE * (2.0 * u[:, _DRAW["sentiment"]] - 1.0)
        sent = np.round(np.tanh(np.arctanh(np.clip(sent, -0.999, 0.999)) + step + noise), 4)
        index = index + 1 + (u[:, _DRAW["index"]] < 0.35)
        active = decided & ~esc & go_on & (t + gap < end_s)
        t = t + gap
    return escalated, np.where(logged, succeeded, -1), last_index, last_t


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
    out = _empty_turns(n)
    for k in range(int(tk["seq"].max(initial=-1)) + 1):
        sel = np.flatnonzero(tk["seq"] == k)
        for name, v in _history(tk, sel, k).items():
            static[name][sel] = v
        s = {key: v[sel] for key, v in static.items()}
        escalated, success, last_index, last_t = _conversations(tk, sel, s, out, end_s)
        tk["escalated"][sel] = escalated
        resolve_tickets(tk, sel, success.astype(np.int64), last_index, last_t)
    return {"ticket_p_escalate": out["p_escalate"][:, 0].copy(), **out}
