"""Ground truth: the escalation probability, per-action success and the logging policy.

All functions take a ``state`` dict of per-ticket arrays holding exactly what a model can
see at the ticket's open time (profile and engagement as of that time, the support
history as aggregates.py computes it, the turn context), plus the latent ``patience``.
The coefficients are documented in docs/data.md; change both together.
"""

from __future__ import annotations

import numpy as np

from modelio.vocab import ACTIONS, CHANNELS, DEVICES, ISSUE_CATEGORIES, PLAN_TIERS

ESCALATION: dict[str, float] = {
    "intercept": -2.6,
    "sentiment": -0.9,  # x sentiment
    "neg_sentiment_x_billing": 1.3,  # x max(-sentiment, 0) x [billing]
    "prior_escalations": 0.25,  # x min(escalations_90d, 3)
    "voice_x_prior_escalations": 0.4,  # x [voice] x min(escalations_90d, 3)
    "night_x_mobile": 1.0,  # x [local hour >= 22 or < 6] x [device mobile]
    "turn_index": 0.12,  # x min(turn_index - 1, 8)
    "repeat_contacts": 0.2,  # x min(tickets_30d - 1, 4): other tickets in the last 30 days
    "bad_last_csat": 0.25,  # x (3 - last_csat) when the customer rated a closed ticket
    "premium": 0.3,  # x [plan_tier premium]
    "engaged": -0.6,  # x min(active_days_28d, 20) / 20
}
CATEGORY_LOGIT = np.array([0.2, 0.3, -0.3, 0.0, 0.8, -0.7])  # ISSUE_CATEGORIES order
CHANNEL_LOGIT = np.array([0.0, 0.1, -0.2, -0.5, 0.5])  # CHANNELS order

_CAT = {c: i for i, c in enumerate(ISSUE_CATEGORIES)}
_VOICE = CHANNELS.index("voice")
_MOBILE, _DESKTOP = DEVICES.index("mobile"), DEVICES.index("desktop")
_PREMIUM, _PLUS = PLAN_TIERS.index("premium"), PLAN_TIERS.index("plus")
_A = {a: i for i, a in enumerate(ACTIONS)}


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function."""
    return 1.0 / (1.0 + np.exp(-z))


def escalation_logit(s: dict[str, np.ndarray]) -> np.ndarray:
    """f(state): the true escalation log-odds of each ticket."""
    c = ESCALATION
    sent, cat = s["sentiment"], s["category"]
    esc = np.minimum(s["escalations_90d"], 3)
    night = (s["local_hour"] >= 22) | (s["local_hour"] < 6)
    last_csat = np.nan_to_num(s["last_csat"], nan=3.0)
    return (
        c["intercept"]
        + CATEGORY_LOGIT[cat]
        + CHANNEL_LOGIT[s["channel"]]
        + c["sentiment"] * sent
        + c["neg_sentiment_x_billing"] * np.maximum(-sent, 0) * (cat == _CAT["billing"])
        + c["prior_escalations"] * esc
        + c["voice_x_prior_escalations"] * esc * (s["channel"] == _VOICE)
        + c["night_x_mobile"] * night * (s["device"] == _MOBILE)
        + c["turn_index"] * np.minimum(s["turn_index"] - 1, 8)
        + c["repeat_contacts"] * np.minimum(s["tickets_30d"] - 1, 4)
        + c["bad_last_csat"] * (3.0 - last_csat)
        + c["premium"] * (s["tier"] == _PREMIUM)
        + c["engaged"] * np.minimum(s["active_days"], 20) / 20.0
        + s["patience"]
    )


def resolve_logits(s: dict[str, np.ndarray], risk: np.ndarray) -> np.ndarray:
    """Log-odds that each action resolves the ticket given no escalation, shape (n, 7)."""
    sent, cat = s["sentiment"], s["category"]
    neg = np.maximum(-sent, 0)
    is_cat = {name: (cat == i).astype(np.float64) for name, i in _CAT.items()}
    engaged = np.minimum(s["active_days"], 20) / 20.0
    log_ltv = np.clip((np.log1p(s["ltv"]) - 6.0) / 1.5, -1.0, 2.0)
    avg_res = np.nan_to_num(s["avg_resolution_hours_90d"], nan=0.0)
    out = np.empty((len(sent), len(ACTIONS)))
    out[:, _A["self_service_article"]] = (
        -0.4
        + 1.6 * engaged
        - 2.5 * risk
        - 1.0 * neg
        + 0.7 * (is_cat["general"] + is_cat["account"])
    )
    out[:, _A["guided_troubleshooting"]] = (
        -0.7 - 0.8 * neg + is_cat["technical"] * (2.0 + 0.9 * (s["device"] == _DESKTOP))
    )
    out[:, _A["account_billing_answer"]] = (
        -0.6 + 2.1 * is_cat["billing"] + 1.0 * is_cat["account"] - 0.6 * neg
    )
    out[:, _A["retention_offer"]] = (
        -1.3 + 0.3 * is_cat["billing"] + is_cat["cancellation"] * (2.0 + 1.0 * log_ltv)
    )
    out[:, _A["priority_queue"]] = -1.1 + 0.5 * (s["tier"] == _PREMIUM) + 3.0 * risk
    out[:, _A["human_handoff"]] = -0.9 + 2.5 * np.maximum(-sent - 0.3, 0) + 2.2 * risk
    out[:, _A["proactive_follow_up"]] = (
        -0.8 + 2.0 * is_cat["shipping"] + 0.5 * np.minimum(avg_res / 24.0, 3.0)
    )
    return out


def success_probabilities(s: dict[str, np.ndarray], p_escalate: np.ndarray) -> np.ndarray:
    """p_success(a) = (1 - p_escalate) * sigmoid(resolve_logit(a)), shape (n, 7).

    Success means resolved without escalation, so an escalated ticket never succeeds.
    """
    return (1.0 - p_escalate)[:, None] * sigmoid(resolve_logits(s, p_escalate))


def eligible_actions(s: dict[str, np.ndarray]) -> np.ndarray:
    """Boolean (n, 7): retention_offer needs consent, priority_queue needs plus/premium."""
    out = np.ones((len(s["tier"]), len(ACTIONS)), dtype=bool)
    out[:, _A["retention_offer"]] = s["consent"]
    out[:, _A["priority_queue"]] = s["tier"] >= _PLUS
    return out


#: Logging policy: HEURISTIC_WEIGHT x softmax(heuristic) + rest x uniform, over eligible.
HEURISTIC_WEIGHT = 0.5
_MATCH = {
    "billing": "account_billing_answer",
    "technical": "guided_troubleshooting",
    "account": "account_billing_answer",
    "shipping": "proactive_follow_up",
    "cancellation": "retention_offer",
    "general": "self_service_article",
}


def logging_policy(s: dict[str, np.ndarray], eligible: np.ndarray) -> np.ndarray:
    """Probabilities of the randomized logging policy, shape (n, 7), zero if ineligible."""
    score = np.zeros(eligible.shape)
    rows = np.arange(len(score))
    match = np.array([_A[_MATCH[c]] for c in ISSUE_CATEGORIES])[s["category"]]
    score[rows, match] = 1.0
    score[:, _A["human_handoff"]] += 1.0 * (s["sentiment"] < -0.5)
    soft = np.where(eligible, np.exp(score), 0.0)
    soft /= soft.sum(axis=1, keepdims=True)
    uniform = eligible / eligible.sum(axis=1, keepdims=True)
    return HEURISTIC_WEIGHT * soft + (1 - HEURISTIC_WEIGHT) * uniform
