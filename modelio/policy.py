"""The next-best-action policy: eligibility rules → argmax of predicted success → ε-exploration.

Shared by off-policy evaluation in training and by the server, so the policy that is
evaluated is the policy that is served. Configuration comes from a policy file
(training/policy.yaml) and is frozen into each model version's manifest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelio.context import has_consent
from modelio.reward import RewardConfig
from modelio.vocab import ACTIONS

HANDOFF = "human_handoff"


class PolicyConfig(BaseModel):
    """Rules and thresholds of the policy (``policy:`` in the manifest)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epsilon: float = Field(default=0.05, ge=0.0, le=1.0, description="Exploration share")
    handoff_risk_threshold: float = Field(
        default=0.8, gt=0.0, le=1.0, description="Risk forcing a human"
    )
    handoff_sentiment_threshold: float = Field(
        default=-0.8, ge=-1.0, le=1.0, description="Sentiment at or below which a human is forced"
    )
    consent_actions: tuple[str, ...] = Field(
        default=("retention_offer",), description="Offers: only with personalization consent"
    )
    priority_action: str = "priority_queue"
    priority_tiers: tuple[str, ...] = Field(
        default=("plus", "premium"), description="Tiers eligible"
    )
    known_customer_actions: tuple[str, ...] = Field(
        default=("account_billing_answer",),
        description="Need the customer's account (known customer)",
    )
    skip_failed_actions: bool = Field(
        default=True,
        description="Do not choose an action that already failed in this conversation"
        " (modelio.conversation); a human handoff is always allowed",
    )
    risk_bands: tuple[float, float] = Field(
        default=(0.3, 0.6), description="Lower bounds of the medium and high escalation-risk bands"
    )
    reward: RewardConfig = Field(
        default=RewardConfig(), description="How outcomes become rewards (modelio.reward)"
    )


@dataclass(frozen=True, slots=True)
class Eligibility:
    """What the policy needs to know about the customer to apply its rules."""

    consent: bool
    plan_tier: str | None
    known_customer: bool


@dataclass(frozen=True, slots=True)
class Choice:
    action: str
    propensity: float
    reason_codes: tuple[str, ...]
    probabilities: tuple[float, ...]  # over ACTIONS, sums to 1


def eligibility_of(raw: Mapping[str, Any]) -> Eligibility:
    """The rule inputs from a customer's raw online features (empty for unknown customers).

    Without personalization consent no profile feature is used, the plan tier included,
    so tier-based actions (the priority queue) are not offered. Training's off-policy
    evaluation and the server both call this, so they apply the same rules.
    """
    consent = has_consent(raw)
    tier = raw.get("plan_tier") if consent else None
    return Eligibility(
        consent=consent,
        plan_tier=tier if isinstance(tier, str) else None,
        known_customer=any(v is not None for v in raw.values()),
    )


def eligible_mask(
    who: Eligibility, config: PolicyConfig, failed: frozenset[str] = frozenset()
) -> tuple[bool, ...]:
    """Which ACTIONS the rules allow for this customer, in a conversation where the
    actions ``failed`` already failed (``modelio.conversation.failed_actions``)."""
    mask = []
    for action in ACTIONS:
        ok = not (config.skip_failed_actions and action in failed and action != HANDOFF)
        if action in config.consent_actions and not who.consent:
            ok = False
        if action == config.priority_action and who.plan_tier not in config.priority_tiers:
            ok = False
        if action in config.known_customer_actions and not who.known_customer:
            ok = False
        mask.append(ok)
    return tuple(mask)


def forced_reason(risk: float, sentiment: float, config: PolicyConfig) -> str | None:
    """Reason code when a human agent is forced, else None."""
    if risk >= config.handoff_risk_threshold:
        return "forced_handoff_high_risk"
    if sentiment <= config.handoff_sentiment_threshold:
        return "forced_handoff_negative_sentiment"
    return None


def action_probabilities(
    scores: Sequence[float],
    mask: Sequence[bool],
    risk: float,
    sentiment: float,
    config: PolicyConfig,
) -> tuple[float, ...]:
    """The policy's full distribution over ACTIONS (used by OPE and to pick)."""
    if forced_reason(risk, sentiment, config) is not None:
        return tuple(1.0 if a == HANDOFF else 0.0 for a in ACTIONS)
    allowed = [i for i, ok in enumerate(mask) if ok]
    best = max(allowed, key=lambda i: scores[i])
    share = config.epsilon / len(allowed)
    probs = [0.0] * len(ACTIONS)
    for i in allowed:
        probs[i] = share + (1.0 - config.epsilon if i == best else 0.0)
    return tuple(probs)


def exploration_draw(*parts: str) -> float:
    """A uniform number in [0, 1) fixed by the turn, so a retried turn gets the same answer."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def choose(
    scores: Sequence[float],
    mask: Sequence[bool],
    risk: float,
    sentiment: float,
    config: PolicyConfig,
    draw: float,
) -> Choice:
    """Pick an action with ``draw`` in [0, 1); return it with its propensity and reasons."""
    probs = action_probabilities(scores, mask, risk, sentiment, config)
    forced = forced_reason(risk, sentiment, config)
    cumulative = 0.0
    index = max(range(len(probs)), key=probs.__getitem__)
    for i, p in enumerate(probs):
        cumulative += p
        if p > 0.0 and draw < cumulative:
            index = i
            break
    greedy = max(range(len(probs)), key=probs.__getitem__)
    if forced is not None:
        reasons: tuple[str, ...] = (forced,)
    elif index == greedy:
        reasons = ("highest_predicted_success",)
    else:
        reasons = ("exploration",)
    return Choice(ACTIONS[index], probs[index], reasons, probs)


def risk_band(probability: float, config: PolicyConfig) -> str:
    """``low`` / ``medium`` / ``high`` by the configured band bounds."""
    medium, high = config.risk_bands
    if probability >= high:
        return "high"
    return "medium" if probability >= medium else "low"
