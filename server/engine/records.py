"""Decision-log rows (``modelio.logrecords.DECISION_SCHEMA``) from what the engine used.

Built on the request path, so cheaply: plain dicts of values the engine already has
(the encoded input row and the scores as lists, the policy's probabilities as computed
when choosing); the only real work is one JSON encoding of the served features.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from modelio.experiment import SHADOW_PREFIX
from modelio.policy import Choice
from modelio.vocab import ACTIONS
from server.engine.assemble import Prepared
from server.engine.types import Decision

_ACTION_INDEX = {action: i for i, action in enumerate(ACTIONS)}
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def features_json(raw: Mapping[str, Any]) -> str:
    """The raw online features as a JSON object (``{}`` for unknown customers).

    orjson, not the standard library: this runs once per decision on the request path,
    and orjson encodes a customer's ~20 features several times faster (numpy scalars and
    datetimes natively)."""
    if not raw:
        return "{}"
    return orjson.dumps(dict(raw), default=_json_default, option=_OPTIONS).decode()


def decision_row(
    p: Prepared,
    decision: Decision,
    choice: Choice,
    inputs: list[float],
    scores: list[float],
    ts: datetime,
    decision_id: str | None = None,
    features: str | None = None,
) -> dict[str, Any]:
    """One DECISION_SCHEMA row: the turn, the features and inputs, the policy's output
    (shadow rows pass their ``decision_id`` and the served row's ``features`` JSON)."""
    ctx = p.req.context
    nba = decision.next_best_action
    return {
        "decision_id": decision.decision_id if decision_id is None else decision_id,
        "ts": ts,
        "customer_id": p.req.customer_id,
        "request_id": decision.request_id,
        "conversation_id": "",  # not in the API yet
        "model_version": decision.model_version,
        "arm": decision.arm,
        "channel": ctx.channel,
        "device": ctx.device,
        "issue_category": ctx.issue_category,
        "sentiment": ctx.sentiment,
        "event_time": ctx.event_time,
        "time_zone": ctx.timezone,
        "locale": ctx.locale,
        "turn_index": ctx.turn_index,
        "features": features_json(p.raw) if features is None else features,
        "inputs": inputs,
        "probabilities": list(choice.probabilities),
        "action": nba.action,
        "action_index": _ACTION_INDEX[nba.action],
        "propensity": nba.propensity,
        "scores": scores,
        "escalation_probability": decision.escalation_risk.probability,
        "segment_id": decision.segment.id,
        "personalized": decision.personalized,
        "degraded": bool(decision.degraded_reasons),
        "degraded_reasons": list(decision.degraded_reasons),
    }


def decision_rows(
    prepared: Sequence[Prepared],
    decided: Sequence[tuple[Decision, Choice]],
    inputs: list[list[float]],
    scores: list[list[float]],
    ts: datetime,
) -> list[dict[str, Any]]:
    """One row per decision of a batch (all sequences in request order)."""
    return [
        decision_row(p, d, c, inputs[i], scores[i], ts)
        for i, (p, (d, c)) in enumerate(zip(prepared, decided, strict=True))
    ]


def shadow_id(decision_id: str, version: str) -> str:
    """The decision id of a shadow version's row: ``<served id>:shadow:<version>``."""
    return f"{decision_id}:{SHADOW_PREFIX}{version}"


def shadow_rows(
    prepared: Sequence[Prepared],
    decided: Sequence[tuple[Decision, Choice]],
    served: Sequence[dict[str, Any]],
    inputs: list[list[float]],
    scores: list[list[float]],
) -> list[dict[str, Any]]:
    """A shadow version's rows for a batch: its own choice and propensity, the served
    row's id suffixed (:func:`shadow_id`), time and features, arm ``shadow:<version>``."""
    return [
        decision_row(
            p,
            d,
            c,
            inputs[i],
            scores[i],
            served[i]["ts"],
            shadow_id(served[i]["decision_id"], d.model_version),
            served[i]["features"],
        )
        for i, (p, (d, c)) in enumerate(zip(prepared, decided, strict=True))
    ]


def _json_default(value: Any) -> Any:
    # Readers may hand back numpy scalars or datetimes; everything else is plain JSON.
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
