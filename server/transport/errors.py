"""The one table from domain errors to gRPC status codes, and how RPCs fail.

Every RPC goes through :class:`server.transport.interceptors.ErrorInterceptor`, which
calls :func:`abort_for` with whatever the handler raised, so servicers never pick
status codes themselves.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import NoReturn

import grpc

from server.errors import (
    AuditWriteError,
    BatchTooLargeError,
    FeatureStoreError,
    InvalidRequestError,
    ModelLoadError,
    NotReadyError,
    OverloadedError,
    PermissionDeniedError,
    PersonalizationError,
    RecordLogFullError,
    UnauthenticatedError,
)

log = logging.getLogger(__name__)

#: Domain error class -> status code. Subclasses not listed use their nearest listed
#: base class (looked up along the MRO).
STATUS_BY_ERROR: Mapping[type[Exception], grpc.StatusCode] = {
    InvalidRequestError: grpc.StatusCode.INVALID_ARGUMENT,
    BatchTooLargeError: grpc.StatusCode.INVALID_ARGUMENT,
    # Back off and retry: the caller may try another replica.
    OverloadedError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    # Transient: starting up, or the online store is down. Clients retry UNAVAILABLE.
    NotReadyError: grpc.StatusCode.UNAVAILABLE,
    FeatureStoreError: grpc.StatusCode.UNAVAILABLE,
    # A missing or corrupt model bundle does not heal by retrying; an operator must
    # deploy a good one. FAILED_PRECONDITION tells clients not to retry blindly.
    ModelLoadError: grpc.StatusCode.FAILED_PRECONDITION,
    # No, malformed or unknown API key vs. a valid key without the RPC's role.
    UnauthenticatedError: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDeniedError: grpc.StatusCode.PERMISSION_DENIED,
    # The audit line could not be made durable, so no decision may be returned.
    AuditWriteError: grpc.StatusCode.UNAVAILABLE,
    # The decision/outcome log is full and set to refuse: transient, another replica
    # or a retry after backoff may take it.
    RecordLogFullError: grpc.StatusCode.UNAVAILABLE,
    # Any other deliberate engine error we forgot to list is still a server fault.
    PersonalizationError: grpc.StatusCode.INTERNAL,
}

_GENERIC_DETAILS = {
    OverloadedError: "server overloaded; retry with backoff",
    NotReadyError: "server not ready; retry later",
    FeatureStoreError: "feature store unavailable; retry later",
    ModelLoadError: "model bundle unavailable",
    AuditWriteError: "audit log unavailable; retry later",
    RecordLogFullError: "decision/outcome log full; retry later",
}


def status_for(exc: BaseException) -> grpc.StatusCode | None:
    """Status code for a domain error, or None if ``exc`` is not in the table."""
    for cls in type(exc).__mro__:
        code = STATUS_BY_ERROR.get(cls)
        if code is not None:
            return code
    return None


def details_for(exc: BaseException) -> str:
    """Status details: ``field: reason`` for invalid requests, else the message."""
    if isinstance(exc, InvalidRequestError):
        return f"{exc.field}: {exc.reason}"
    message = str(exc)
    if message:
        return message
    for cls in type(exc).__mro__:
        if cls in _GENERIC_DETAILS:
            return _GENERIC_DETAILS[cls]
    return type(exc).__name__


def abort_for(context: grpc.ServicerContext, exc: Exception, rpc: str) -> NoReturn:
    """End the RPC with the status ``exc`` maps to; unknown errors become INTERNAL.

    Unknown errors are logged with their traceback under an incident id that is
    also put in the status details, so a caller's report can be matched to the log
    without leaking internals to the caller.
    """
    code = status_for(exc)
    if code is not None and code is not grpc.StatusCode.INTERNAL:
        context.abort(code, details_for(exc))
    incident = uuid.uuid4().hex[:12]
    log.error(
        "unhandled error in %s",
        rpc,
        exc_info=exc,
        extra={"rpc": rpc, "incident": incident, "error_type": type(exc).__name__},
    )
    context.abort(grpc.StatusCode.INTERNAL, f"internal error (incident {incident})")
    raise AssertionError("context.abort() returned")  # it raises; this is for the checker


def abort_if_expired(context: grpc.ServicerContext) -> None:
    """Stop before doing work nobody waits for: the deadline passed or the caller left."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline expired before processing")
    if not context.is_active():
        context.abort(grpc.StatusCode.CANCELLED, "cancelled by the caller")
