"""Sending outcomes back to the server: the ONE place that knows the RecordOutcome RPC.

Written against ``rpc RecordOutcomeBatch(RecordOutcomeBatchRequest) returns
(RecordOutcomeBatchResponse)`` with ``RecordOutcomeBatchRequest { repeated
RecordOutcomeRequest outcomes = 1; }`` and ``RecordOutcomeRequest { decision_id,
resolved, escalated, optional csat, event_time, request_id }`` on
PersonalizationService. The driver takes any :data:`Sender`, so tests inject one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from personalization.v1 import personalization_pb2 as pb
from personalization.v1 import personalization_pb2_grpc as pb_grpc

#: Outcomes per RecordOutcomeBatch call.
OUTCOME_BATCH = 500


@dataclass(frozen=True, slots=True)
class OutcomeRecord:
    """One decision's outcome, as the replay world drew it."""

    decision_id: str
    resolved: bool
    escalated: bool
    csat: int | None
    event_s: int
    request_id: str


Sender = Callable[[grpc.Channel, Sequence[OutcomeRecord]], None]


def _request(o: OutcomeRecord) -> Any:
    fields: dict[str, Any] = {
        "decision_id": o.decision_id,
        "resolved": o.resolved,
        "escalated": o.escalated,
        "event_time": Timestamp(seconds=int(o.event_s)),
        "request_id": o.request_id,
    }
    if o.csat is not None:
        fields["csat"] = int(o.csat)
    return pb.RecordOutcomeRequest(**fields)


def send_outcomes(
    channel: grpc.Channel,
    outcomes: Sequence[OutcomeRecord],
    metadata: Sequence[tuple[str, str]] = (),
    timeout: float = 30.0,
) -> None:
    """Send ``outcomes`` with RecordOutcomeBatch, :data:`OUTCOME_BATCH` at a time."""
    stub = pb_grpc.PersonalizationServiceStub(channel)
    for lo in range(0, len(outcomes), OUTCOME_BATCH):
        batch = [_request(o) for o in outcomes[lo : lo + OUTCOME_BATCH]]
        request = pb.RecordOutcomeBatchRequest(outcomes=batch)
        stub.RecordOutcomeBatch(request, timeout=timeout, metadata=tuple(metadata))
