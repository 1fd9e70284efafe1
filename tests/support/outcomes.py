"""Helpers for RecordOutcome tests over gRPC: a valid outcome to vary, Timestamps, and the
error a call raises."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from personalization.v1 import personalization_pb2 as pb
from tests.support.servers import EVENT_TIME

SERVICE = "/personalization.v1.PersonalizationService"


def ts(value: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(value)
    return out


def make_outcome(decision_id: str = "d-C000123-3", **fields: Any) -> pb.RecordOutcomeRequest:
    """A valid outcome; keyword arguments override fields (``event_time=None`` unsets it)."""
    values: dict[str, Any] = {
        "resolved": True,
        "escalated": False,
        "csat": 4,
        "event_time": ts(EVENT_TIME),
        "request_id": "req-o1",
    }
    values.update(fields)
    values = {k: v for k, v in values.items() if v is not None}
    return pb.RecordOutcomeRequest(decision_id=decision_id, **values)


def rpc_error(call: Callable[..., Any], *args: Any, **kwargs: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as error:
        call(*args, timeout=5, **kwargs)
    return error.value
