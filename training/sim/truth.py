"""Ground truth: the escalation probability, per-action success and the logging policy.

All functions take a ``state`` dict of per-turn arrays holding exactly what a model can
see at the turn (profile and engagement as of the ticket's open time, the support
history as aggregates.py computes it, the turn context), plus the latent ``patience``.
Later turns of a conversation also carry its state (:data:`CONVERSATION_STATE` keys):
failed actions and the sentiment drop since the first turn raise the escalation risk,
shift which action works (what failed tells which action is next, NEXT_STEP), and an
action that already failed works less well again.
A state without those keys is a first turn (the replay world's turns are).
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


#: Conversation effects (the keys of :data:`CONVERSATION_STATE`; zero on a first turn).
CONVERSATION: dict[str, float] = {
    "esc_failed": 0.5,  # escalation logit x min(failed actions so far, 3)
    "esc_drop": 1.5,  # escalation logit x max(first sentiment - sentiment, 0)
    "handoff_failed": 0.5,  # human_handoff resolve logit x min(failed, 3)
    "handoff_drop": 1.0,  # human_handoff resolve logit x max(first - sentiment, 0)
    "priority_failed": 0.4,  # priority_queue resolve logit x min(failed, 3)
    "article_failed": -0.8,  # self_service_article resolve logit x min(failed, 3)
    "repeat": -1.5,  # resolve logit of an action that already failed in the conversation
}
#: What a failure reveals: resolve-logit shift of each action (columns) once another
#: (rows) failed in the conversation, e.g. a failed article calls for guided help.
_NEXT_STEP = {
    ("self_service_article", "guided_troubleshooting"): 1.2,
    ("self_service_article", "human_handoff"): 0.4,
    ("guided_troubleshooting", "human_handoff"): 1.0,
    ("guided_troubleshooting", "priority_queue"): 0.8,
    ("account_billing_answer", "retention_offer"): 0.8,
    ("account_billing_answer", "human_handoff"): 0.6,
    ("proactive_follow_up", "priority_queue"): 0.9,
    ("retention_offer", "account_billing_answer"): 0.7,
}
NEXT_STEP = np.zeros((len(ACTIONS), len(ACTIONS)))
for (_failed, _then), _shift in _NEXT_STEP.items():
    NEXT_STEP[_A[_failed], _A[_then]] = _shift
#: Per-turn conversation arrays: failed count, first sentiment, (n, 7) failed-action mask.
CONVERSATION_STATE = ("conv_failed", "conv_first_sentiment", "conv_failed_mask")


def _conversation(s: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    if "conv_failed" not in s:
        return None
    failed = np.minimum(s["conv_failed"], 3).astype(np.float64)
    drop = np.maximum(s["conv_first_sentiment"] - s["sentiment"], 0.0)
    return failed, drop


def turn_escalation_logit(s: dict[str, np.ndarray]) -> np.ndarray:
    """:func:`escalation_logit` plus the conversation's effect (failures, sentiment drop)."""
    z = escalation_logit(s)
    conv = _conversation(s)
    if conv is None:
        return z
    failed, drop = conv
    return z + CONVERSATION["esc_failed"] * failed + CONVERSATION["esc_drop"] * drop


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

    Success means resolved without escalation, so an escalated turn never succeeds.
    With conversation state the resolve logits are shifted (:data:`CONVERSATION`).
    """
    z = resolve_logits(s, p_escalate)
    conv = _conversation(s)
    if conv is not None:
        failed, drop = conv
        c = CONVERSATION
        z[:, _A["human_handoff"]] += c["handoff_failed"] * failed + c["handoff_drop"] * drop
        z[:, _A["priority_queue"]] += c["priority_failed"] * failed
        z[:, _A["self_service_article"]] += c["article_failed"] * failed
        mask = s["conv_failed_mask"].astype(np.float64)
        z += c["repeat"] * mask + mask @ NEXT_STEP
    return (1.0 - p_escalate)[:, None] * sigmoid(z)


def eligible_actions(s: dict[str, np.ndarray]) -> np.ndarray:
    """Boolean (n, 7): retention_offer needs consent, priority_queue needs plus/premium;
    an action that failed earlier in the conversation is not chosen again (but a human
    handoff), as :func:`modelio.policy.eligible_mask` rules for the served policy."""
    out = np.ones((len(s["tier"]), len(ACTIONS)), dtype=bool)
    out[:, _A["retention_offer"]] = s["consent"]
    out[:, _A["priority_queue"]] = s["tier"] >= _PLUS
    if "conv_failed_mask" in s:  # the shared policy's rule: no repeat of a failed action
        out &= ~(s["conv_failed_mask"] & (np.arange(len(ACTIONS)) != _A["human_handoff"]))
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
