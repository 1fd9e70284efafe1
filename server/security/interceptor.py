"""The server interceptor that authenticates API keys and enforces roles.

Install it inside the access log and the concurrency limiter and outside everything
that does work (``server.app`` does)::

    [LoggingInterceptor(), ConcurrencyLimiter(...), AuthInterceptor(...), ..., ErrorInterceptor()]

It wraps every kind of handler (streaming ones too, so closing reflection works).
Keys are checked on the handler thread; a rejected call never reaches the inner
interceptors or the servicer. The key itself is never logged or echoed: the access
log gets only the key id or the failure kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import grpc

from server.errors import PermissionDeniedError, SecurityError, UnauthenticatedError
from server.security.keys import KeyStore
from server.security.policy import AccessPolicy, Requirement
from server.security.principal import Principal, bound
from server.transport.access_log import annotate_access_log
from server.transport.errors import abort_for
from server.transport.interceptors import Continuation

Metadata = Sequence[tuple[str, str | bytes]] | None
_HEADER = "authorization"


def bearer_key(metadata: Metadata) -> str:
    """The key from the single ``authorization: Bearer <key>`` entry of ``metadata``."""
    values = [v for k, v in metadata or () if k == _HEADER]
    if not values:
        raise UnauthenticatedError("missing API key: send metadata 'authorization: Bearer <key>'")
    if len(values) > 1:
        raise UnauthenticatedError("more than one authorization metadata entry")
    value = values[0]
    scheme, _, key = value.strip().partition(" ") if isinstance(value, str) else ("", "", "")
    if scheme.lower() != "bearer" or not key.strip():
        raise UnauthenticatedError("authorization metadata must be 'Bearer <key>'")
    return key.strip()


def authorize(keys: KeyStore, requirement: Requirement, metadata: Metadata) -> Principal:
    """The caller's principal if its key is valid and has the required role, else raise."""
    principal = keys.authenticate(bearer_key(metadata))
    if principal is None:
        raise UnauthenticatedError("invalid API key")
    if requirement.role is not None and not principal.has_role(requirement.role):
        raise PermissionDeniedError(
            f"API key {principal.key_id!r} lacks the {requirement.role!r} role"
        )
    return principal


Behavior = Callable[[Any, grpc.ServicerContext], Any]


def _rebuild(handler: grpc.RpcMethodHandler, behavior: Behavior) -> grpc.RpcMethodHandler:
    kinds = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    make = kinds[(bool(handler.request_streaming), bool(handler.response_streaming))]
    return make(  # type: ignore[operator]
        behavior,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _original(handler: grpc.RpcMethodHandler) -> Behavior:
    return (  # type: ignore[no-any-return]
        handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream
    )


def _iterate_bound(principal: Principal, responses: Iterator[Any]) -> Iterator[Any]:
    with bound(principal):
        yield from responses


class AuthInterceptor(grpc.ServerInterceptor):
    """Reject calls without a valid key (UNAUTHENTICATED) or role (PERMISSION_DENIED);
    bind the caller's :class:`Principal` while the rest of the call runs."""

    def __init__(self, keys: KeyStore, policy: AccessPolicy) -> None:
        self.keys = keys
        self.policy = policy

    def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        rpc = handler_call_details.method
        requirement = self.policy.requirement(rpc)
        if handler is None or requirement.open:
            return handler
        metadata: Metadata = handler_call_details.invocation_metadata
        behavior = _original(handler)
        streaming = bool(handler.response_streaming)

        def guarded(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                principal = authorize(self.keys, requirement, metadata)
            except SecurityError as exc:
                annotate_access_log(auth_error=type(exc).__name__)
                abort_for(context, exc, rpc)
            annotate_access_log(principal=principal.key_id)
            with bound(principal):
                response = behavior(request, context)
            # A response generator's body runs after this returns: bind it there too.
            return _iterate_bound(principal, response) if streaming else response

        return _rebuild(handler, guarded)
