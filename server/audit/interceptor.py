"""The server interceptor that writes audit lines for the RPCs that decide or take
outcomes (one line per customer, or per outcome) and for the admin RPCs that switch
models or experiments (one line per call, with a ``detail``).

Install it inside the auth interceptor (so the principal is known) and outside the
error mapping (so it sees the final status of failed calls)::

    [..., AuthInterceptor(...), AuditInterceptor(...), ErrorInterceptor()]

A successful call's response is returned -- and so sent -- only after its lines are
durable; if they cannot be written the call fails UNAVAILABLE instead. Failed calls
are audited too (``decision_id`` null), best effort. Calls rejected before this
interceptor (no key, wrong role, overload) are in the access log only.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

import grpc

from modelio.audit_format import AuditItem, HmacKey, audit_lines
from personalization.v1 import admin_pb2 as admin_pb
from personalization.v1 import personalization_pb2 as pb
from server.audit.writer import AuditWriter
from server.errors import AuditWriteError
from server.security.principal import current_principal
from server.settings import Settings
from server.transport.errors import abort_for
from server.transport.interceptors import Behavior, Continuation, wrap_unary

log = logging.getLogger(__name__)

#: (request, response or None if the call failed) -> one item per customer or outcome.
Extractor = Callable[[Any, Any | None], list[AuditItem]]


def _decide(request: pb.DecideRequest, response: pb.DecideResponse | None) -> list[AuditItem]:
    decision_id = response.decision_id if response is not None else None
    return [AuditItem(request.customer_id, request.request_id, decision_id)]


def _decide_batch(
    request: pb.DecideBatchRequest, response: pb.DecideBatchResponse | None
) -> list[AuditItem]:
    if response is None:
        return [AuditItem(r.customer_id, r.request_id, None) for r in request.requests]
    return [
        AuditItem(r.customer_id, r.request_id, d.decision_id)
        for r, d in zip(request.requests, response.responses, strict=True)
    ]


def _outcome(
    request: pb.RecordOutcomeRequest, response: pb.RecordOutcomeResponse | None
) -> list[AuditItem]:
    return [AuditItem(None, request.request_id, request.decision_id)]


def _outcome_batch(
    request: pb.RecordOutcomeBatchRequest, response: pb.RecordOutcomeBatchResponse | None
) -> list[AuditItem]:
    return [AuditItem(None, o.request_id, o.decision_id) for o in request.outcomes]


def _reload(
    request: admin_pb.ReloadModelsRequest, response: admin_pb.ReloadModelsResponse | None
) -> list[AuditItem]:
    asked = f"reload version={request.version or 'current'}"
    detail = asked if response is None else f"{asked}: {response.message}"
    return [AuditItem(None, "", None, detail)]


def _load_experiment(
    request: admin_pb.LoadExperimentRequest, response: admin_pb.LoadExperimentResponse | None
) -> list[AuditItem]:
    detail = "load experiment" if response is None else f"load experiment: {response.message}"
    return [AuditItem(None, "", None, detail)]


def _promote(
    request: admin_pb.PromoteArmRequest, response: admin_pb.PromoteArmResponse | None
) -> list[AuditItem]:
    asked = f"promote arm={request.arm} move_current={request.move_current}"
    detail = asked if response is None else f"{asked}: {response.serving.message}"
    return [AuditItem(None, "", None, detail)]


_SERVICE = pb.DESCRIPTOR.services_by_name["PersonalizationService"].full_name
_ADMIN = admin_pb.DESCRIPTOR.services_by_name["AdminService"].full_name
#: Full method name -> how to list the customers of a call. Add RPCs that touch
#: personal data here.
AUDITED_RPCS: Mapping[str, Extractor] = {
    f"/{_SERVICE}/Decide": _decide,
    f"/{_SERVICE}/DecideBatch": _decide_batch,
    f"/{_SERVICE}/RecordOutcome": _outcome,
    f"/{_SERVICE}/RecordOutcomeBatch": _outcome_batch,
    # Every model or experiment switch, refused ones included.
    f"/{_ADMIN}/ReloadModels": _reload,
    f"/{_ADMIN}/LoadExperiment": _load_experiment,
    f"/{_ADMIN}/PromoteArm": _promote,
}


class AuditInterceptor(grpc.ServerInterceptor):
    """Append one line per customer of every audited call; see the module docstring."""

    def __init__(
        self,
        writer: AuditWriter,
        hmac_key: HmacKey | None = None,
        rpcs: Mapping[str, Extractor] = AUDITED_RPCS,
    ) -> None:
        self.writer = writer
        self._hmac_key = hmac_key
        self._rpcs = rpcs

    def _lines(self, rpc: str, items: list[AuditItem], status: grpc.StatusCode) -> bytes:
        principal = current_principal()
        return audit_lines(
            rpc=rpc,
            principal=principal.key_id if principal is not None else None,
            items=items,
            status=status.name,
            hmac_key=self._hmac_key,
        )

    def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        rpc = handler_call_details.method
        extract = self._rpcs.get(rpc)
        if extract is None:
            return handler

        def wrap(behavior: Behavior) -> Behavior:
            def audited(request: Any, context: grpc.ServicerContext) -> Any:
                try:
                    response = behavior(request, context)
                except Exception:
                    code = context.code() or grpc.StatusCode.UNKNOWN
                    # A write error is already logged; the call fails anyway with its status.
                    with contextlib.suppress(AuditWriteError):
                        self.writer.append(self._lines(rpc, extract(request, None), code))
                    raise
                lines = self._lines(rpc, extract(request, response), grpc.StatusCode.OK)
                try:
                    self.writer.append(lines)
                except AuditWriteError as exc:
                    abort_for(context, exc, rpc)
                return response

            return audited

        return wrap_unary(handler, wrap)


def build_audit(settings: Settings) -> AuditInterceptor | None:
    """The audit interceptor (owning an open writer), or None when no path is set."""
    if settings.audit_log_path is None:
        return None
    hmac_key = settings.audit_hmac_key if settings.audit_hash_customer_ids else None
    log.info(
        "audit log enabled",
        extra={"path": str(settings.audit_log_path), "hashed_ids": hmac_key is not None},
    )
    return AuditInterceptor(AuditWriter(settings.audit_log_path), hmac_key)
