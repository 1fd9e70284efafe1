"""Server interceptors: the shared extension point (``wrap_unary``) and error mapping.

Install them in this order (outermost first) so the access log sees the final status
of every RPC, including the ones the limiter rejects; ``server.app`` puts the auth
and audit interceptors between the limiter and the error mapping::

    [LoggingInterceptor(), ConcurrencyLimiter(n, services), ErrorInterceptor()]

``LoggingInterceptor`` is in ``transport.access_log``, ``ConcurrencyLimiter`` in
``transport.limiter``. Only unary-unary handlers are wrapped; streaming ones (health
Watch, reflection) pass through untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from server.transport.convert import MalformedRequest, tolerant_deserializer
from server.transport.errors import abort_for, abort_if_expired

Behavior = Callable[[Any, grpc.ServicerContext], Any]
Continuation = Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None]


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
