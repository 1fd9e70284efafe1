"""A tiny raw-bytes gRPC server for load-generator tests: Decide/DecideBatch answer b""
(an empty message) or fail as a handler says, and the calls are counted."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent import futures

import grpc

SERVICE = "personalization.v1.PersonalizationService"


Handler = Callable[[int], grpc.StatusCode | None]  # call number (1-based) -> failure or None


class CountingServer:
    """Decide/DecideBatch answering b"" (an empty message), or failing as ``handler`` says."""

    def __init__(self, handler: Handler, workers: int = 8) -> None:
        self.calls = 0
        self._lock = threading.Lock()
        self._handler = handler
        self.server = grpc.server(futures.ThreadPoolExecutor(workers))
        methods = {
            name: grpc.unary_unary_rpc_method_handler(self._serve)
            for name in ("Decide", "DecideBatch")
        }
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, methods),)
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.target = f"127.0.0.1:{self.port}"

    def _serve(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        with self._lock:
            self.calls += 1
            n = self.calls
        code = self._handler(n)
        if code is not None:
            context.abort(code, f"call {n} fails")
        return b""
