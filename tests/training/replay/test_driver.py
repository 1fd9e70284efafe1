"""The replay driver against an in-process fake server with a known policy."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass, field

import grpc
import numpy as np
import pytest

from personalization.v1 import personalization_pb2 as pb
from personalization.v1 import personalization_pb2_grpc as pb_grpc
from training.replay.decide_rpc import action_index, build_requests, decide
from training.replay.driver import Estimate, Replay
from training.replay.outcome_rpc import OutcomeRecord, send_outcomes
from training.replay.population import Population
from training.replay.world import World


@dataclass
class FakeService(pb_grpc.PersonalizationServiceServicer):
    """Always ACTION_SELF_SERVICE_ARTICLE with propensity 1; counts batches."""

    version: str = "v0"
    batches: int = 0
    seen: Counter[str] = field(default_factory=Counter)
    outcomes: list[pb.RecordOutcomeRequest] = field(default_factory=list)
    outcome_batches: int = 0

    def RecordOutcome(
        self, request: pb.RecordOutcomeRequest, context: object
    ) -> pb.RecordOutcomeResponse:
        self.outcomes.append(request)
        return pb.RecordOutcomeResponse(recorded=True, request_id=request.request_id)

    def RecordOutcomeBatch(
        self, request: pb.RecordOutcomeBatchRequest, context: object
    ) -> pb.RecordOutcomeBatchResponse:
        self.outcome_batches += 1
        replies = [self.RecordOutcome(o, context) for o in request.outcomes]
        return pb.RecordOutcomeBatchResponse(responses=replies)

    def Decide(self, request: pb.DecideRequest, context: object) -> pb.DecideResponse:
        batch = pb.DecideBatchRequest(requests=[request])
        return self.DecideBatch(batch, context).responses[0]

    def DecideBatch(
        self, request: pb.DecideBatchRequest, context: object
    ) -> pb.DecideBatchResponse:
        self.batches += 1
        out = []
        for r in request.requests:
            assert r.context.channel and r.context.device_type and r.context.issue_category
            self.seen[r.request_id] += 1
            out.append(
                pb.DecideResponse(
                    decision_id=f"d-{self.version}-{r.request_id}",
                    request_id=r.request_id,
                    model_version=self.version,
                    next_best_action=pb.NextBestAction(
                        action=pb.ACTION_SELF_SERVICE_ARTICLE, propensity=1.0
                    ),
                )
            )
        return pb.DecideBatchResponse(responses=out)


@pytest.fixture()
def fake() -> Iterator[tuple[FakeService, grpc.Channel]]:
    service = FakeService()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_PersonalizationServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield service, channel
    server.stop(grace=None)


@dataclass
class FakeSteps:
    """Round steps that only bump the fake server's version."""

    service: FakeService
    calls: list[int] = field(default_factory=list)

    def initial(self) -> Estimate | None:
        return Estimate("v0", 0.3, None)

    def between(self, finished_round: int) -> Estimate:
        self.calls.append(finished_round)
        self.service.version = f"v{finished_round + 1}"
        return Estimate(self.service.version, 0.4, (0.35, 0.45))


@dataclass
class Collect:
    """A fake outcome sender."""

    sent: list[OutcomeRecord] = field(default_factory=list)

    def __call__(self, channel: grpc.Channel, outcomes: Sequence[OutcomeRecord]) -> None:
        self.sent.extend(outcomes)


def test_rounds_against_a_known_policy(
    fake: tuple[FakeService, grpc.Channel], population: Population
) -> None:
    service, channel = fake
    world = World(population, seed=4)
    sender, steps = Collect(), FakeSteps(service)
    replay = Replay(channel, world, steps, turns=1200, sender=sender, batch_size=500)
    result = replay.run(3)
    rows = result["rounds"]
    assert [r["version"] for r in rows] == ["v0", "v1", "v2"] and steps.calls == [0, 1]
    assert [r["turns"] for r in rows] == [1200] * 3 and service.batches == 9
    assert sum(service.seen.values()) == 3600 and set(service.seen.values()) == {1}
    ids = Counter(o.decision_id for o in sender.sent)
    assert len(ids) == 3600 and set(ids.values()) == {1}  # one outcome per decision
    turns = world.turns(1200, 0)  # the same turns every round (no fresh_turns)
    always_first = turns.true_value(np.zeros(len(turns), dtype=np.int64))
    for r in rows:
        assert r["true_value"] == round(always_first, 5)
        assert r["oracle_value"] == round(turns.oracle_value(), 5)
        assert r["mean_propensity"] == 1.0
    assert rows[0]["logging_value"] == round(turns.logging_value(), 5)
    assert rows[1]["logging_value"] == rows[0]["true_value"]
    assert rows[0]["dr_estimate"] == 0.3 and rows[0]["dr_ci"] is None
    assert rows[2]["dr_estimate"] == 0.4 and rows[2]["dr_ci"] == [0.35, 0.45]
    first = [o for o in sender.sent if o.decision_id.startswith("d-v0-")]
    reward = np.mean([o.resolved and not o.escalated for o in first])
    assert rows[0]["realized_reward"] == round(float(reward), 5)
    assert all(o.event_s > population.snapshot_s for o in sender.sent)


def test_fresh_turns_change_every_round(
    fake: tuple[FakeService, grpc.Channel], population: Population
) -> None:
    service, channel = fake
    replay = Replay(
        channel, World(population), FakeSteps(service), 300, Collect(), fresh_turns=True
    )
    rows = replay.run(2)["rounds"]
    assert rows[0]["oracle_value"] != rows[1]["oracle_value"]
    assert rows[1]["logging_on_same_turns"] is False


def test_requests_and_actions_round_trip(
    fake: tuple[FakeService, grpc.Channel], population: Population
) -> None:
    _, channel = fake
    turns = World(population).turns(50)
    requests = build_requests(turns, 7)
    assert requests[3].request_id == "r7-3"
    assert requests[0].context.event_time.seconds == turns.event_s[0]
    decided = decide(channel, requests, batch_size=20)
    assert list(decided.actions) == [0] * 50
    assert action_index(pb.ACTION_HUMAN_HANDOFF) == 5


def test_send_outcomes_sends_every_outcome_in_batches(
    fake: tuple[FakeService, grpc.Channel],
) -> None:
    outcomes = [
        OutcomeRecord(
            f"d{i}", i % 2 == 0, i % 3 == 0, (i % 5) + 1 if i % 4 else None, 1000 + i, f"r{i}"
        )
        for i in range(1200)
    ]
    send_outcomes(fake[1], outcomes)
    got = fake[0].outcomes
    assert fake[0].outcome_batches == 3  # OUTCOME_BATCH = 500
    assert [o.decision_id for o in got] == [o.decision_id for o in outcomes]
    for sent, received in zip(outcomes, got, strict=True):
        assert (received.resolved, received.escalated) == (sent.resolved, sent.escalated)
        assert (received.csat if received.HasField("csat") else None) == sent.csat
        assert received.event_time.seconds == sent.event_s
        assert received.request_id == sent.request_id
