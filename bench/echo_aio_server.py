"""``python -m bench.echo_aio_server --port N``: the echo floor on ``grpc.aio``.

The same servicer answers (empty messages) and the same channel options and message
limits as ``bench.echo_server``, on the asyncio server instead of the thread-pool one,
so ``echo_aio`` beside ``echo`` shows what the server flavour alone changes. Handlers
are coroutines that return at once; the concurrency limit is the real server's.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import grpc

from bench.base import baseline_parser
from personalization.v1 import personalization_pb2 as pb
from personalization.v1 import personalization_pb2_grpc as pb_grpc
from server.app import server_options
from server.settings import Settings


class AioEchoServicer(pb_grpc.PersonalizationServiceServicer):
    """Answers every call with an empty message."""

    async def Decide(self, request: pb.DecideRequest, context: Any) -> pb.DecideResponse:  # type: ignore[override]
        return pb.DecideResponse()

    async def DecideBatch(  # type: ignore[override]
        self, request: pb.DecideBatchRequest, context: Any
    ) -> pb.DecideBatchResponse:
        return pb.DecideBatchResponse()

    async def RecordOutcome(  # type: ignore[override]
        self, request: pb.RecordOutcomeRequest, context: Any
    ) -> pb.RecordOutcomeResponse:
        return pb.RecordOutcomeResponse()

    async def RecordOutcomeBatch(  # type: ignore[override]
        self, request: pb.RecordOutcomeBatchRequest, context: Any
    ) -> pb.RecordOutcomeBatchResponse:
        return pb.RecordOutcomeBatchResponse()


async def serve(host: str, port: int) -> None:
    """Bind, start, and run until SIGTERM/SIGINT; then stop within one second."""
    settings = Settings()
    server = grpc.aio.server(
        options=server_options(settings), maximum_concurrent_rpcs=settings.max_concurrent_rpcs
    )
    pb_grpc.add_PersonalizationServiceServicer_to_server(AioEchoServicer(), server)
    if server.add_insecure_port(f"{host}:{port}") != port:
        raise SystemExit(f"could not bind {host}:{port}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    print(f"listening on {host}:{port}", flush=True)
    await stop.wait()
    await server.stop(1.0)


def main(argv: list[str] | None = None) -> None:
    """Run the aio echo server until SIGTERM."""
    args = baseline_parser("python -m bench.echo_aio_server", __doc__ or "").parse_args(argv)
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
