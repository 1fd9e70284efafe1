"""Fuzzing every RPC of a REAL server (this folder's ``target``) with payloads that are not,
or are damaged, protobuf: random bytes, bit flips and truncations of valid requests, sent
with identity serializers. Generation is derandomized, so runs are reproducible."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from personalization.v1 import personalization_pb2 as pb
from tests.support.fuzz import Described, Target, check_decision, check_receipt, resolve
from tests.support.servers import make_request


def _check_decide_bytes(reply: bytes) -> None:
    check_decision(pb.DecideResponse.FromString(reply), None)


def _check_decide_batch_bytes(reply: bytes) -> None:
    for d in pb.DecideBatchResponse.FromString(reply).responses:
        check_decision(d, None)


def _check_outcome_bytes(reply: bytes) -> None:
    check_receipt(pb.RecordOutcomeResponse.FromString(reply), None)


def _check_outcome_batch_bytes(reply: bytes) -> None:
    for r in pb.RecordOutcomeBatchResponse.FromString(reply).responses:
        check_receipt(r, None)


def send_bytes(target: Target, payloads: list[bytes]) -> None:
    """Each payload to every RPC; an OK answer must be a well-formed response."""
    calls = (
        ("Decide", target.raw_decide, _check_decide_bytes),
        ("DecideBatch", target.raw_batch, _check_decide_batch_bytes),
        ("RecordOutcome", target.raw_outcome, _check_outcome_bytes),
        ("RecordOutcomeBatch", target.raw_outcome_batch, _check_outcome_batch_bytes),
    )
    futures = [
        (p, name, check, call.future(p, timeout=30))
        for p in payloads
        for name, call, check in calls
    ]
    for payload, name, check, future in futures:
        reply = resolve(future, Described(name, payload))
        if reply is not None:
            check(reply)
    target.sent["bytes"] += len(futures)


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(4)
        if op == 0 and buf:  # flip a bit
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:  # truncate
            del buf[rng.randrange(len(buf)) :]
        elif op == 2:  # insert random bytes
            pos = rng.randrange(len(buf) + 1)
            buf[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif buf:  # overwrite a byte with a wire-type-ish value
            buf[rng.randrange(len(buf))] = rng.choice([0x00, 0x07, 0x0F, 0x80, 0xFF, 0x12, 0x1A])
    return bytes(buf)


def test_random_and_damaged_bytes_never_fail_internally(target: Target) -> None:
    seeds = [make_request(cid).SerializeToString() for cid in target.known_ids[:20]] + [
        pb.DecideBatchRequest(requests=[make_request(c)]).SerializeToString() for c in "AB"
    ]
    outcome = pb.RecordOutcomeRequest(decision_id="d-1", resolved=True, csat=3, request_id="r")
    outcome.event_time.FromSeconds(1_700_000_000)
    seeds += [
        outcome.SerializeToString(),
        pb.RecordOutcomeBatchRequest(outcomes=[outcome, outcome]).SerializeToString(),
    ]

    @settings(
        max_examples=600,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        payload=st.one_of(
            st.binary(max_size=64),
            st.builds(
                lambda i, r: mutate(random.Random(r), seeds[i]),
                st.integers(0, len(seeds) - 1),
                st.integers(0, 2**32),
            ),
        )
    )
    @example(payload=b"\xff\xff")  # regression: an unparseable request was INTERNAL
    @example(payload=b"\n\x02\xff\xfe")  # invalid UTF-8 in customer_id
    @example(payload=b"\x12\x05\x08\xff\xff\xff\xff")  # truncated context
    def fuzz(payload: bytes) -> None:
        send_bytes(target, [payload])

    fuzz()
    # Bulk: thousands more, 32 in flight at a time, from a fixed seed.
    rng = random.Random(20240506)
    for _ in range(200):
        chunk = []
        for _ in range(16):
            if rng.random() < 0.5:
                chunk.append(rng.randbytes(rng.randint(0, 200)))
            else:
                chunk.append(mutate(rng, rng.choice(seeds)))
        send_bytes(target, chunk)
    # 2,400 hypothesis-driven + 12,800 bulk (each payload to all four RPCs).
    assert target.sent["bytes"] >= 15200
