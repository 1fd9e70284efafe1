"""The access log: one structured line per RPC (``LoggingInterceptor``), and
``annotate_access_log`` for inner layers to add fields to the current RPC's line. The
same interceptor times every RPC for ``personalization_rpc_duration_seconds``."""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from typing import Any

import grpc

from server.metrics import observe_rpc
from server.transport.interceptors import Behavior, Continuation, wrap_unary

log = logging.getLogger("server.access")
_MAX_LOGGED_ID = 128

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
    seconds = time.perf_counter() - start
    code = context.code() or (grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK)
    observe_rpc(rpc, code.name, seconds)  # every RPC, logged or not
    ok = code is grpc.StatusCode.OK
    if ok and not log_ok and not log.isEnabledFor(logging.DEBUG):
        return  # the hot path: nothing to build
    fields: dict[str, Any] = {
        "rpc": rpc,
        "status": code.name,
        "duration_ms": round(seconds * 1000.0, 3),
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
