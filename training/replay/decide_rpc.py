"""Asking the server: the ONE place that knows the DecideBatch RPC (as
:mod:`training.replay.outcome_rpc` is for RecordOutcomeBatch).

Every turn becomes a DecideRequest (request id ``r<round>-<row>``, so the server's
exploration draw, which hashes the turn and the request id, repeats with the turns);
the answers come back row-aligned as :class:`Decided`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc
import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from modelio.vocab import ACTIONS
from personalization.v1 import personalization_pb2 as pb
from personalization.v1 import personalization_pb2_grpc as pb_grpc
from training.replay.world import Turns


@dataclass(frozen=True)
class Decided:
    """The server's answers for a batch of turns (row-aligned with the turns)."""

    actions: np.ndarray
    propensity: np.ndarray
    decision_ids: list[str]
    request_ids: list[str]
    versions: list[str]
    arms: list[str] = field(default_factory=list)  # DecideResponse.arm ("" outside one)


def build_requests(turns: Turns, round_index: int) -> list[pb.DecideRequest]:
    """One DecideRequest per turn; request ids ``r<round>-<row>``."""
    names, s = turns.names(), turns.state
    return [
        pb.DecideRequest(
            customer_id=str(turns.customer_ids[i]),
            request_id=f"r{round_index}-{i}",
            context=pb.TurnContext(
                channel=f"CHANNEL_{names['channel'][i].upper()}",  # type: ignore[arg-type]
                device_type=f"DEVICE_TYPE_{names['device'][i].upper()}",  # type: ignore[arg-type]
                issue_category=f"ISSUE_CATEGORY_{names['category'][i].upper()}",  # type: ignore[arg-type]
                sentiment=float(s["sentiment"][i]),
                event_time=Timestamp(seconds=int(turns.event_s[i])),
                time_zone=names["timezone"][i],
                turn_index=int(s["turn_index"][i]),
            ),
        )
        for i in range(len(turns))
    ]


def action_index(value: int) -> int:
    """Index into ACTIONS of a proto Action value (ACTION_HUMAN_HANDOFF -> 5)."""
    return ACTIONS.index(pb.Action.Name(value).removeprefix("ACTION_").lower())  # type: ignore[arg-type]


def decide(
    channel: grpc.Channel,
    requests: Sequence[pb.DecideRequest],
    batch_size: int = 500,
    metadata: Sequence[tuple[str, str]] = (),
    timeout: float = 60.0,
) -> Decided:
    """Ask the server with DecideBatch, ``batch_size`` turns per call."""
    stub = pb_grpc.PersonalizationServiceStub(channel)
    responses: list[pb.DecideResponse] = []
    for lo in range(0, len(requests), batch_size):
        batch = pb.DecideBatchRequest(requests=requests[lo : lo + batch_size])
        responses.extend(
            stub.DecideBatch(batch, timeout=timeout, metadata=tuple(metadata)).responses
        )
    if [r.request_id for r in responses] != [r.request_id for r in requests]:
        raise RuntimeError("DecideBatch answered out of order or dropped requests")
    nba = [r.next_best_action for r in responses]
    return Decided(
        actions=np.array([action_index(n.action) for n in nba], dtype=np.int64),
        propensity=np.array([n.propensity for n in nba], dtype=np.float64),
        decision_ids=[r.decision_id for r in responses],
        request_ids=[r.request_id for r in responses],
        versions=[r.model_version for r in responses],
        arms=[r.arm for r in responses],
    )


def concat(first: Decided, second: Decided) -> Decided:
    """Two answers of consecutive request batches as one."""
    return Decided(
        actions=np.concatenate([first.actions, second.actions]),
        propensity=np.concatenate([first.propensity, second.propensity]),
        decision_ids=first.decision_ids + second.decision_ids,
        request_ids=first.request_ids + second.request_ids,
        versions=first.versions + second.versions,
        arms=first.arms + second.arms,
    )
