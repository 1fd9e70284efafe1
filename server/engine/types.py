"""Plain-Python request and decision types of the decision engine (no grpc, no pb2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from modelio.context import TurnContext


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    """A validated Decide call."""

    customer_id: str
    context: TurnContext
    request_id: str = ""
    conversation_id: str = ""  # "": not part of a tracked conversation


@dataclass(frozen=True, slots=True)
class Segment:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class EscalationRisk:
    probability: float
    band: str  # "low" | "medium" | "high"


@dataclass(frozen=True, slots=True)
class ScoredAction:
    action: str
    predicted_success: float


@dataclass(frozen=True, slots=True)
class NextBestAction:
    action: str
    predicted_success: float
    propensity: float
    reason_codes: tuple[str, ...]
    alternatives: tuple[ScoredAction, ...]


@dataclass(frozen=True, slots=True)
class StyleHints:
    formality: str  # "formal" | "casual" | "" when unknown
    language: str  # ISO 639-1 or ""


@dataclass(frozen=True, slots=True)
class Decision:
    """Everything the bot needs for this turn."""

    decision_id: str
    request_id: str
    segment: Segment
    escalation_risk: EscalationRisk
    next_best_action: NextBestAction
    style: StyleHints
    personalized: bool
    degraded_reasons: tuple[str, ...] = ()
    not_personalized_reason: str = ""
    feature_age_seconds: float = -1.0  # -1: no features were found
    model_version: str = ""
    extras: dict[str, str] = field(default_factory=dict)
    arm: str = ""  # experiment arm ("" without an experiment)
    realtime_age_seconds: float = -1.0  # freshest real-time feature used; -1: none
    realtime_fallback_reasons: tuple[str, ...] = ()  # why conversation state was not used


@dataclass(frozen=True, slots=True)
class Outcome:
    """A validated outcome of one decision (RecordOutcome), times in UTC."""

    decision_id: str
    resolved: bool
    escalated: bool
    csat: int | None  # 1-5, None when the customer gave no score
    event_time: datetime
    request_id: str = ""
    conversation_id: str = ""  # "": the outcome does not update a conversation's state


@dataclass(frozen=True, slots=True)
class OutcomeReceipt:
    """What the caller learns about one recorded outcome."""

    decision_id: str
    request_id: str
    duplicate: bool  # this server recorded the decision_id recently
