"""``python -m bench.transport_server --port N``: the product's transport, no work.

The real server (``server.app.create_server``: interceptors, validation, converters,
health, reflection, the same settings) around an engine that answers every turn with
one precomputed decision, without reading features or running models. Its distance
to ``echo`` is what the transport costs; ``decide``'s distance to it is what the
engine costs, so the bench shows which of the two a latency target is up against.
"""

from __future__ import annotations

import dataclasses
import uuid

from bench.base import baseline_parser
from modelio.vocab import ACTIONS
from server.app import serve
from server.engine.types import (
    Decision,
    DecisionRequest,
    EscalationRisk,
    NextBestAction,
    ScoredAction,
    Segment,
    StyleHints,
)
from server.settings import Settings

#: A full-size answer: every field set, every other action as an alternative.
TEMPLATE = Decision(
    decision_id="",
    request_id="",
    segment=Segment(-1, "unknown"),
    escalation_risk=EscalationRisk(0.25, "medium"),
    next_best_action=NextBestAction(
        action=ACTIONS[0],
        predicted_success=0.8,
        propensity=0.95,
        reason_codes=("highest_predicted_success",),
        alternatives=tuple(ScoredAction(a, 0.5) for a in ACTIONS[1:]),
    ),
    style=StyleHints(formality="", language="en"),
    personalized=False,
    not_personalized_reason="unknown_customer",
    model_version="constant",
)


class ConstantEngine:
    """An :class:`~server.engine.protocol.Engine` that does no work per turn."""

    model_version = TEMPLATE.model_version

    def ready(self) -> bool:
        return True

    def decide(self, req: DecisionRequest) -> Decision:
        return dataclasses.replace(
            TEMPLATE, decision_id=uuid.uuid4().hex, request_id=req.request_id
        )

    def decide_batch(self, reqs: list[DecisionRequest]) -> list[Decision]:
        return [self.decide(r) for r in reqs]

    def close(self) -> None:
        """Nothing to release."""


def main(argv: list[str] | None = None) -> None:
    """Serve exactly as ``python -m server`` does (settings from the environment)."""
    parser = baseline_parser("python -m bench.transport_server", __doc__ or "")
    args = parser.parse_args(argv)
    serve(Settings(host=args.host, port=args.port), ConstantEngine())


if __name__ == "__main__":
    main()
