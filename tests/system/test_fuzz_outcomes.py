"""Fuzzing RecordOutcome and RecordOutcomeBatch on a REAL server (this folder's ``target``):
hypothesis builds RecordOutcomeRequests from hostile parts (hostile decision ids, csat out
of range, any Timestamp). Generation is derandomized, so runs are reproducible."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from personalization.v1 import personalization_pb2 as pb
from tests.support.fuzz import (
    MAX_BATCH,
    REQUEST_IDS,
    TIMESTAMPS,
    Described,
    Target,
    check_receipt,
    resolve,
    texts,
)

CSATS = st.one_of(st.none(), st.integers(0, 6), st.integers(-(2**31), 2**31 - 1))


@st.composite
def outcomes(draw: st.DrawFn) -> pb.RecordOutcomeRequest:
    """About a third valid outcomes (of made-up decisions), the rest hostile."""
    if draw(st.integers(0, 2)) == 0:
        msg = pb.RecordOutcomeRequest(
            decision_id=f"d-{draw(st.integers(0, 50))}",
            resolved=draw(st.booleans()),
            escalated=draw(st.booleans()),
            request_id=draw(st.sampled_from(["", "r-1"])),
        )
        msg.event_time.FromSeconds(draw(st.integers(1_500_000_000, 1_700_000_000)))
        if draw(st.booleans()):
            msg.csat = draw(st.integers(1, 5))
        return msg
    msg = pb.RecordOutcomeRequest(
        decision_id=draw(st.one_of(st.just(""), texts(128))),
        resolved=draw(st.booleans()),
        escalated=draw(st.booleans()),
        request_id=draw(REQUEST_IDS),
    )
    csat = draw(CSATS)
    if csat is not None:
        msg.csat = csat
    stamp = draw(TIMESTAMPS)
    if stamp is not None:
        msg.event_time.CopyFrom(stamp)
    return msg


def test_generated_outcomes_never_fail_internally(target: Target) -> None:
    @settings(
        max_examples=300,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(items=st.lists(outcomes(), min_size=1, max_size=MAX_BATCH + 2))
    def fuzz(items: list[pb.RecordOutcomeRequest]) -> None:
        futures = [target.stub.RecordOutcome.future(o, timeout=30) for o in items]
        batch = pb.RecordOutcomeBatchRequest(outcomes=items)
        batch_future = target.stub.RecordOutcomeBatch.future(batch, timeout=30)
        for o, f in zip(items, futures, strict=True):
            reply = resolve(f, Described("RecordOutcome", o))
            if reply is not None:
                check_receipt(reply, o.request_id)
        reply = resolve(batch_future, Described("RecordOutcomeBatch", batch))
        if reply is not None:
            assert len(reply.responses) == len(items)
            for o, r in zip(items, reply.responses, strict=True):
                check_receipt(r, o.request_id)
        target.sent["messages"] += len(items) + 1

    fuzz()
