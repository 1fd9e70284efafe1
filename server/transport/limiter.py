"""The concurrency cap: ``ConcurrencyLimiter`` answers RESOURCE_EXHAUSTED above a number
of in-flight RPCs instead of queueing them."""

from __future__ import annotations

import threading
from collections.abc import Collection
from typing import Any

import grpc

from server.errors import OverloadedError
from server.transport.errors import abort_for
from server.transport.interceptors import Behavior, Continuation, wrap_unary


class _Permit:
    """One slot of the limiter, given back exactly once.

    Normally the wrapped handler releases it. If the call dies before a handler
    thread runs it (cancelled while queued), the handler is never called; the
    permit is then released when its closure is garbage-collected, so slots
    cannot leak.
    """

    __slots__ = ("_limiter", "_lock")

    def __init__(self, limiter: ConcurrencyLimiter) -> None:
        self._limiter: ConcurrencyLimiter | None = limiter
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            limiter, self._limiter = self._limiter, None
        if limiter is not None:
            limiter._release()

    def __del__(self) -> None:
        self.release()


class ConcurrencyLimiter(grpc.ServerInterceptor):
    """Answer RESOURCE_EXHAUSTED above ``limit`` in-flight RPCs instead of queueing.

    The slot is taken when the call arrives (in gRPC's polling thread, before the
    call waits for a handler thread), so the limit bounds queued + running calls.
    Only methods of ``services`` (full names) count; health checks and reflection
    do not, so probes still answer while the service sheds load.

    The rejection itself runs on a handler thread (a sync interceptor cannot answer
    from the polling thread), so when every thread is busy it waits its turn. The
    server therefore also sets gRPC's own ``maximum_concurrent_rpcs`` a little above
    ``limit``: beyond that, calls are refused at once and nothing queues unbounded.
    """

    def __init__(self, limit: int, services: Collection[str]) -> None:
        self.limit = limit
        self._prefixes = tuple(f"/{name}/" for name in services)
        self._lock = threading.Lock()
        self._active = 0

    @property
    def active(self) -> int:
        """RPCs currently holding a slot."""
        return self._active

    def _acquire(self) -> _Permit | None:
        with self._lock:
            if self._active >= self.limit:
                return None
            self._active += 1
        return _Permit(self)

    def _release(self) -> None:
        with self._lock:
            self._active -= 1

    def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if (
            handler is None
            or handler.request_streaming
            or handler.response_streaming
            or not handler_call_details.method.startswith(self._prefixes)
        ):
            return handler
        permit = self._acquire()
        rpc = handler_call_details.method

        def wrap(behavior: Behavior) -> Behavior:
            def limited(request: Any, context: grpc.ServicerContext) -> Any:
                if permit is None:
                    overloaded = OverloadedError(
                        f"more than {self.limit} RPCs in flight; retry later"
                    )
                    abort_for(context, overloaded, rpc)
                try:
                    return behavior(request, context)
                finally:
                    permit.release()

            return limited

        return wrap_unary(handler, wrap)
