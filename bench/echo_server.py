"""``python -m bench.echo_server --port N``: the floor of the benchmark.

The same proto service and grpc.server settings as the real server, but Decide and
DecideBatch return an empty response at once: what is left is gRPC + protobuf +
Python's handler dispatch, the cost no implementation can go below.
"""

from __future__ import annotations

from typing import Any

from bench.base import baseline_parser, grpc_server, serve_until_signal
from personalization.v1 import personalization_pb2 as pb
from personalization.v1 import personalization_pb2_grpc as pb_grpc
from server.settings import Settings


class EchoServicer(pb_grpc.PersonalizationServiceServicer):
    """Answers every call with an empty message."""

    def Decide(self, request: pb.DecideRequest, context: Any) -> pb.DecideResponse:
        return pb.DecideResponse()

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
    args = baseline_parser("python -m bench.echo_server", __doc__ or "").parse_args(argv)
    server = grpc_server(Settings())
    pb_grpc.add_PersonalizationServiceServicer_to_server(EchoServicer(), server)
    serve_until_signal(server, args.host, args.port)


if __name__ == "__main__":
    main()
