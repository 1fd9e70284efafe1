"""The turns of each ticket's conversation, drawn with the ground truth (docs/data.md).

:func:`play_conversations` runs inside outcomes.py's per-ticket-rank step: every turn
of the step's tickets at once (vectorized across tickets), turn after turn, with the
random numbers tickets.py drew up front, so the data stay deterministic per seed.
"""

from __future__ import annotations

import numpy as np

from modelio.vocab import ACTIONS
from training.sim.config import MAX_TURNS
from training.sim.tickets import TURN_DRAWS, local_time
from training.sim.truth import (
    eligible_actions,
    logging_policy,
    sigmoid,
    success_probabilities,
    turn_escalation_logit,
)


def _draw_action(u: np.ndarray, policy: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(policy, axis=1)
    return np.minimum((u[:, None] > cdf).sum(axis=1), policy.shape[1] - 1)


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


def turn_clock(tk: dict[str, np.ndarray]) -> None:
    """Every ticket's possible turn times (n x MAX_TURNS: open, then 40-239 s apart) and
    their local hour and weekday, in place (``turn_s``, ``turn_hour``, ``turn_weekday``).

    The gaps do not depend on outcomes, so the clock is drawn once per block (one time
    zone conversion for all turns instead of one per turn and ticket rank)."""
    n = len(tk["open_s"])
    gaps = 40 + np.floor(tk["u_turns"][:, _DRAW["gap"], :] * 200).astype(np.int64)
    turn_s = tk["open_s"][:, None] + np.concatenate(
        [np.zeros((n, 1), dtype=np.int64), np.cumsum(gaps, axis=1)[:, : MAX_TURNS - 1]], axis=1
    )
    zone = np.repeat(tk["zone"], MAX_TURNS)
    hour, weekday = local_time(turn_s.ravel(), zone)
    tk["turn_s"] = turn_s
    tk["turn_hour"] = hour.reshape(n, MAX_TURNS)
    tk["turn_weekday"] = weekday.reshape(n, MAX_TURNS)


def empty_turns(n: int) -> dict[str, np.ndarray]:
    """Per-turn truth arrays of ``n`` tickets, n x MAX_TURNS (``p_success`` n x MAX_TURNS x 7)."""
    out = {k: np.zeros((n, MAX_TURNS), dtype=t) for k, t in _PER_TURN.items()}
    out["action"][:] = -1
    out["propensity"][:] = np.nan
    out["p_success"] = np.zeros((n, MAX_TURNS, len(ACTIONS)))
    return out


def play_conversations(
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
            t = tk["turn_s"][sel, j]
            hour, weekday = tk["turn_hour"][sel, j], tk["turn_weekday"][sel, j]
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
        active = decided & ~esc & go_on & (tk["turn_s"][sel, j + 1] < end_s)
    return escalated, np.where(logged, succeeded, -1), last_index, last_t
