"""Engine decisions -> DecideResponse messages (the proto side of ``transport.convert``).

A value outside the vocabulary is a server bug: it raises ValueError (INTERNAL).
"""

from __future__ import annotations

from personalization.v1 import personalization_pb2 as pb
from server.engine.types import Decision, ScoredAction
from server.transport.enum_tables import ACTION_NAMES, BAND_NAMES, FORMALITY_NAMES


def _enum_name(table: dict[str, str], value: str, what: str) -> str:
    try:
        return table[value]
    except KeyError:
        # The engine produced a value outside the vocabulary: a server bug (INTERNAL).
        raise ValueError(f"engine returned unknown {what} {value!r}") from None


def _scored(item: ScoredAction) -> pb.ScoredAction:
    return pb.ScoredAction(
        action=_enum_name(ACTION_NAMES, item.action, "action"),
        predicted_success=item.predicted_success,
    )


def decision_to_proto(d: Decision) -> pb.DecideResponse:
    """Convert an engine decision; raises ValueError on values outside the vocab."""
    nba = d.next_best_action
    response = pb.DecideResponse(
        decision_id=d.decision_id,
        request_id=d.request_id,
        segment=pb.Segment(id=d.segment.id, name=d.segment.name),
        escalation_risk=pb.EscalationRisk(
            probability=d.escalation_risk.probability,
            band=_enum_name(BAND_NAMES, d.escalation_risk.band, "band"),
        ),
        next_best_action=pb.NextBestAction(
            action=_enum_name(ACTION_NAMES, nba.action, "action"),
            predicted_success=nba.predicted_success,
            propensity=nba.propensity,
            reason_codes=list(nba.reason_codes),
            alternatives=[_scored(a) for a in nba.alternatives],
        ),
        style=pb.StyleHints(
            formality=_enum_name(FORMALITY_NAMES, d.style.formality, "formality")
            if d.style.formality
            else "FORMALITY_UNSPECIFIED",
            language=d.style.language,
        ),
        personalized=d.personalized,
        not_personalized_reason=d.not_personalized_reason,
        degraded=bool(d.degraded_reasons),
        degraded_reasons=list(d.degraded_reasons),
        model_version=d.model_version,
        arm=d.arm,
        realtime_fallback_reasons=list(d.realtime_fallback_reasons),
    )
    if d.feature_age_seconds >= 0:
        response.feature_age.FromNanoseconds(round(d.feature_age_seconds * 1e9))
    if d.realtime_age_seconds >= 0:
        response.realtime_age.FromNanoseconds(round(d.realtime_age_seconds * 1e9))
    return response
