"""PersonalizationService handlers: convert, call the engine, convert back.

Errors are not handled here: domain exceptions propagate to
``interceptors.ErrorInterceptor``, which maps them through ``transport.errors``.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc

from personalization.v1 import personalization_pb2 as pb
from personalization.v1 import personalization_pb2_grpc as pb_grpc
from server.engine.outcomes import OutcomeRecorder
from server.engine.protocol import Engine
from server.errors import NotReadyError
from server.settings import Settings
from server.transport.convert import (
    batch_from_proto,
    decision_request_from_proto,
)
from server.transport.convert_decision import decision_to_proto
from server.transport.convert_outcome import (
    outcome_batch_from_proto,
    outcome_from_proto,
    receipt_to_proto,
)

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["PersonalizationService"].full_name


def _no_principal() -> str:
    return ""


class PersonalizationServicer(pb_grpc.PersonalizationServiceServicer):
    """Serves Decide and DecideBatch from an :class:`~server.engine.protocol.Engine`,
    RecordOutcome and RecordOutcomeBatch from an :class:`OutcomeRecorder`.

    ``principal`` returns the current caller's API key id ("" with auth off); the
    transport cannot read it itself (security sits above it), so ``server.app`` passes
    it in. Outcomes do not need the models or the store, so they are taken while the
    engine is not ready.
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        outcomes: OutcomeRecorder,
        principal: Callable[[], str] = _no_principal,
    ) -> None:
        self._engine = engine
        self._outcomes = outcomes
        self._principal = principal
        self._max_batch_size = settings.max_batch_size
        self._max_id_length = settings.max_customer_id_length

    def _check_ready(self) -> None:
        # Cheap guard so every engine answers UNAVAILABLE the same way while loading.
        if not self._engine.ready():
            raise NotReadyError("models or feature store not ready yet")

    def Decide(self, request: pb.DecideRequest, context: grpc.ServicerContext) -> pb.DecideResponse:
        req = decision_request_from_proto(request, max_customer_id_length=self._max_id_length)
        self._check_ready()
        return decision_to_proto(self._engine.decide(req))

    def DecideBatch(
        self, request: pb.DecideBatchRequest, context: grpc.ServicerContext
    ) -> pb.DecideBatchResponse:
        reqs = batch_from_proto(
            request,
            max_batch_size=self._max_batch_size,
            max_customer_id_length=self._max_id_length,
        )
        if not reqs:
            return pb.DecideBatchResponse()
        self._check_ready()
        decisions = self._engine.decide_batch(reqs)
        if len(decisions) != len(reqs):
            raise RuntimeError(f"engine returned {len(decisions)} decisions for {len(reqs)}")
        return pb.DecideBatchResponse(responses=[decision_to_proto(d) for d in decisions])

    def RecordOutcome(
        self, request: pb.RecordOutcomeRequest, context: grpc.ServicerContext
    ) -> pb.RecordOutcomeResponse:
        outcome = outcome_from_proto(request)
        (receipt,) = self._outcomes.record([outcome], principal=self._principal())
        return receipt_to_proto(receipt)

    def RecordOutcomeBatch(
        self, request: pb.RecordOutcomeBatchRequest, context: grpc.ServicerContext
    ) -> pb.RecordOutcomeBatchResponse:
        outcomes = outcome_batch_from_proto(request, max_batch_size=self._max_batch_size)
        receipts = self._outcomes.record(outcomes, principal=self._principal())
        return pb.RecordOutcomeBatchResponse(responses=[receipt_to_proto(r) for r in receipts])
