"""``python -m bench.echo_server --port N [--answer full]``: the floor of the benchmark.

The same proto service and grpc.server settings as the real server, but Decide and
DecideBatch return at once: what is left is gRPC + protobuf + Python's handler
dispatch, the cost no implementation can go below. ``--answer empty`` (default) returns
an empty message; ``--answer full`` a canned DecideResponse of the real size (every
field set as a personalized answer sets them, six alternatives), serialized once, so
the gap between it and Decide is exactly what computing the answer costs.
"""

from __future__ import annotations

from typing import Any

from bench.base import baseline_parser, grpc_server, serve_until_signal
from modelio.vocab import ACTIONS
from personalization.v1 import personalization_pb2 as pb
from personalization.v1 import personalization_pb2_grpc as pb_grpc
from server.engine.types import (
    Decision,
    EscalationRisk,
    NextBestAction,
    ScoredAction,
    Segment,
    StyleHints,
)
from server.settings import Settings
from server.transport.convert_decision import decision_to_proto


def canned_decision() -> Decision:
    """A personalized decision with every field a real one has."""
    alternatives = tuple(
        ScoredAction(action, 0.6 - 0.05 * i) for i, action in enumerate(ACTIONS[1:])
    )
    return Decision(
        decision_id="0f" * 16,
        request_id="lg0-1234",
        segment=Segment(2, "loyal_power_users"),
        escalation_risk=EscalationRisk(0.1834, "low"),
        next_best_action=NextBestAction(
            ACTIONS[0], 0.7123, 0.9142, ("highest_predicted_success",), alternatives
        ),
        style=StyleHints("formal", "fr"),
        personalized=True,
        feature_age_seconds=3725.5,
        model_version="personalization_v1-20261201T112517Z",
        arm="",
    )


class EchoServicer(pb_grpc.PersonalizationServiceServicer):
    """Answers every call with an empty message, or Decide with the canned one."""

    def __init__(self, answer: str = "empty") -> None:
        self._decide = decision_to_proto(canned_decision()) if answer == "full" else None

    def Decide(self, request: pb.DecideRequest, context: Any) -> pb.DecideResponse:
        return self._decide if self._decide is not None else pb.DecideResponse()

    def DecideBatch(self, request: pb.DecideBatchRequest, context: Any) -> pb.DecideBatchResponse:
        return pb.DecideBatchResponse()

    def RecordOutcome(
        self, request: pb.RecordOutcomeRequest, context: Any
    ) -> pb.RecordOutcomeResponse:
        return pb.RecordOutcomeResponse()

    def RecordOutcomeBatch(
        self, request: pb.RecordOutcomeBatchRequest, context: Any
    ) -> pb.RecordOutcomeBatchResponse:
        return pb.RecordOutcomeBatchResponse()


def main(argv: list[str] | None = None) -> None:
    """Run the echo server until SIGTERM."""
    parser = baseline_parser("python -m bench.echo_server", __doc__ or "")
    parser.add_argument("--answer", choices=("empty", "full"), default="empty")
    args = parser.parse_args(argv)
    server = grpc_server(Settings())
    pb_grpc.add_PersonalizationServiceServicer_to_server(EchoServicer(args.answer), server)
    serve_until_signal(server, args.host, args.port)


if __name__ == "__main__":
    main()
