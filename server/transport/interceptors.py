"""Server interceptors: access logs, the concurrency cap and error mapping.

Install them in this order (outermost first) so the access log sees the final status
of every RPC, including the ones the limiter rejects; ``server.app`` puts the auth
and audit interceptors between the limiter and the error mapping::

    [LoggingInterceptor(), ConcurrencyLimiter(n, services), ErrorInterceptor()]

Only unary-unary handlers are wrapped; streaming ones (health Watch, reflection)
pass through untouched.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from contextvars import ContextVar
from typing import Any

import grpc

from server.errors import OverloadedError
from server.transport.convert import MalformedRequest, tolerant_deserializer
from server.transport.errors import abort_for, abort_if_expired

log = logging.getLogger("server.access")
_MAX_LOGGED_ID = 128

Behavior = Callable[[Any, grpc.ServicerContext], Any]
Continuation = Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None]

# Extra fields for the access-log line of the RPC this handler thread is serving.
_ACCESS_FIELDS: ContextVar[dict[str, Any] | None] = ContextVar("access_fields", default=None)


def annotate_access_log(**fields: Any) -> None:
    """Add ``fields`` to the current RPC's access-log line (no-op outside an RPC).

    For inner interceptors and handlers, e.g. the auth interceptor adds the caller's
    key id. Pass ids and codes only: never keys, metadata or payloads.
    """
    current = _ACCESS_FIELDS.get()
    if current is not None:
        current.update(fields)


def wrap_unary(
    handler: grpc.RpcMethodHandler | None,
    wrap: Callable[[Behavior], Behavior],
    tolerant: bool = False,
) -> grpc.RpcMethodHandler | None:
    """``handler`` with its unary-unary behavior replaced by ``wrap(behavior)``; streaming
    handlers and None pass through untouched. The extension point for interceptors."""
    if handler is None or handler.request_streaming or handler.response_streaming:
        return handler
    deserializer = handler.request_deserializer
    if tolerant and deserializer is not None:
        deserializer = tolerant_deserializer(deserializer)
    return grpc.unary_unary_rpc_method_handler(
        wrap(handler.unary_unary),
        request_deserializer=deserializer,
        response_serializer=handler.response_serializer,
    )


class ErrorInterceptor(grpc.ServerInterceptor):
    """Turn exceptions into statuses via the one table in ``transport.errors``.

    It also makes request parsing tolerant: bytes that are not a valid message reach
    the handler as a :class:`MalformedRequest` and fail INVALID_ARGUMENT (gRPC itself
    would answer INTERNAL). Install it innermost, so every layer sees that deserializer.
    """

    def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        rpc = handler_call_details.method

        def wrap(behavior: Behavior) -> Behavior:
            def guarded(request: Any, context: grpc.ServicerContext) -> Any:
                abort_if_expired(context)
                try:
                    if isinstance(request, MalformedRequest):
                        raise request.error()
                    return behavior(request, context)
                except Exception as exc:
                    if context.code() is not None:  # context.abort() was already called
                        raise
                    abort_for(context, exc, rpc)

            return guarded

        return wrap_unary(continuation(handler_call_details), wrap, tolerant=True)


class LoggingInterceptor(grpc.ServerInterceptor):
    """One structured log line per RPC: rpc, status, duration_ms, request_id.

    Never logs payloads or metadata (which may hold API keys): only the caller's
    request_id, the batch size, the status details the server wrote itself and the
    fields inner layers add with :func:`annotate_access_log` (e.g. ``principal``).
    """

    _QUIET_PREFIXES = ("/grpc.health.v1.",)  # probes: every few seconds, DEBUG only

    def __init__(self, log_ok: bool = True) -> None:
        """``log_ok=False`` logs successful calls at DEBUG only (failures always at INFO
        or ERROR): at thousands of calls a second a line per call costs more than the
        decision itself."""
        self._log_ok = log_ok

    def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        rpc = handler_call_details.method
        quiet = rpc.startswith(self._QUIET_PREFIXES)
        log_ok = self._log_ok and not quiet

        def wrap(behavior: Behavior) -> Behavior:
            def logged(request: Any, context: grpc.ServicerContext) -> Any:
                start = time.perf_counter()
                failed = True
                extra: dict[str, Any] = {}
                token = _ACCESS_FIELDS.set(extra)
                try:
                    response = behavior(request, context)
                    failed = False
                    return response
                finally:
                    _ACCESS_FIELDS.reset(token)
                    _log_rpc(rpc, request, context, start, failed, quiet, log_ok, extra)

            return logged

        return wrap_unary(continuation(handler_call_details), wrap)


def _log_rpc(
    rpc: str,
    request: Any,
    context: grpc.ServicerContext,
    start: float,
    failed: bool,
    quiet: bool,
    log_ok: bool,
    extra: dict[str, Any],
) -> None:
    code = context.code() or (grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK)
    ok = code is grpc.StatusCode.OK
    if ok and not log_ok and not log.isEnabledFor(logging.DEBUG):
        return  # the hot path: nothing to build
    fields: dict[str, Any] = {
        "rpc": rpc,
        "status": code.name,
        "duration_ms": round((time.perf_counter() - start) * 1000.0, 3),
        # Caller-supplied and logged even when invalid: cap it (JSON/repr escape the rest).
        "request_id": str(getattr(request, "request_id", ""))[:_MAX_LOGGED_ID],
    }
    items = getattr(request, "requests", None)
    if items is None:
        items = getattr(request, "outcomes", None)  # RecordOutcomeBatch
    if items is not None:
        fields["batch_size"] = len(items)
    fields.update(extra)
    if code is not grpc.StatusCode.OK:
        fields["details"] = context.details() or ""
    if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
        level = logging.ERROR
    else:
        level = logging.DEBUG if quiet or (ok and not log_ok) else logging.INFO
    log.log(level, "rpc finished", extra=fields)


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
