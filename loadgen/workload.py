"""The request mix: which customers and which conversation turns the load generator sends.

Requests are built once into a pool of serialized messages and sent round-robin, so
the send loop costs no protobuf encoding. The mix: known customers (ids from the
feature store's parquet or ``PREFIX + zero-padded index``), a share of unknown ones, and
turns spread over channels, devices, issue categories, sentiment, time zones, locales
and turn indices with plausible (not uniform) weights.
"""

from __future__ import annotations

import random
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf.message import Message

from loadgen.conversations import conversation_pool

RPC_METHODS: dict[str, str] = {
    "decide": "/personalization.v1.PersonalizationService/Decide",
    "batch": "/personalization.v1.PersonalizationService/DecideBatch",
    "feast": "/GrpcFeatureServer/GetOnlineFeatures",
}
CHANNELS = {1: 0.35, 2: 0.30, 3: 0.20, 4: 0.10, 5: 0.05}  # web, app, messaging, email, voice
DEVICES = {1: 0.45, 2: 0.45, 3: 0.10}  # desktop, mobile, tablet
CATEGORIES = {1: 0.25, 2: 0.30, 3: 0.15, 4: 0.12, 5: 0.08, 6: 0.10}
TIME_ZONES = (
    "",
    "UTC",
    "Europe/Paris",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
)
LOCALES = ("en-US", "en-GB", "fr-FR", "de-DE", "es-ES", "pt-BR", "")


@dataclass(frozen=True)
class Workload:
    """What to send: the RPC, its batch size, the customers and the unknown share."""

    rpc: str = "decide"
    known_ids: tuple[str, ...] = ()
    unknown_share: float = 0.1
    batch_size: int = 100
    pool_size: int = 4096
    seed: int = 1
    feature_service: str = "personalization_v1"
    #: > 0: every Decide is a turn of a conversation (``conversation_id``), this many in
    #: progress at once per sender (loadgen.conversations)
    conversations: int = 0
    #: Turns of every conversation (0: drawn, 1 + Exp(0.45) capped at 30)
    conversation_turns: int = 0

    @property
    def method(self) -> str:
        """Full gRPC method path of :attr:`rpc`."""
        return RPC_METHODS[self.rpc]


def load_known_ids(parquet: Path | None, prefix: str, count: int, width: int = 7) -> list[str]:
    """Known customer ids: the distinct ``customer_id`` of ``parquet``, else generated."""
    if parquet is not None:
        import pyarrow.parquet as pq

        column = pq.read_table(parquet, columns=["customer_id"]).column("customer_id")
        return sorted({str(v) for v in column.to_pylist() if v is not None})
    return [f"{prefix}{i:0{width}d}" for i in range(count)]


def pick(rng: random.Random, weights: dict[int, float]) -> int:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def customer(rng: random.Random, work: Workload) -> str:
    if not work.known_ids or rng.random() < work.unknown_share:
        return f"U{rng.randrange(10**9):09d}"
    return rng.choice(work.known_ids)


def decide_request(rng: random.Random, work: Workload, request_id: str) -> Any:
    """One realistic DecideRequest."""
    from personalization.v1 import personalization_pb2 as pb

    channel = pick(rng, CHANNELS)
    device = rng.choice((2, 2, 3)) if channel == 2 else pick(rng, DEVICES)
    req = pb.DecideRequest(customer_id=customer(rng, work), request_id=request_id)
    ctx: Any = req.context  # enum fields take plain ints
    ctx.channel = channel
    ctx.device_type = device
    ctx.issue_category = pick(rng, CATEGORIES)
    ctx.sentiment = max(-1.0, min(1.0, rng.gauss(-0.1, 0.45)))
    ctx.time_zone = rng.choice(TIME_ZONES)
    ctx.locale = rng.choice(LOCALES)
    ctx.turn_index = min(1 + int(rng.expovariate(0.45)), 30)
    if rng.random() < 0.9:  # 10 % leave event_time unset (server uses its clock)
        ctx.event_time.FromNanoseconds(int((time.time() - rng.uniform(0, 5)) * 1e9))
    return req


def feast_request(rng: random.Random, work: Workload, count: int) -> Message:
    """A Feast GetOnlineFeaturesRequest for ``count`` customers of the feature service."""
    from feast.protos.feast.serving.ServingService_pb2 import GetOnlineFeaturesRequest
    from feast.protos.feast.types.Value_pb2 import RepeatedValue, Value

    ids = [Value(string_val=customer(rng, work)) for _ in range(count)]
    req = GetOnlineFeaturesRequest(feature_service=work.feature_service)
    req.entities["customer_id"].CopyFrom(RepeatedValue(val=ids))
    return req


class Pool(list[bytes]):
    """Serialized requests, sent round-robin: :meth:`payload`. The requests of a
    conversation workload carry no ``conversation_id``; :meth:`payload` appends one
    (``loadgen.conversations``) naming the sender and its pass over the pool."""

    def __init__(self, items: list[bytes], conversation_ids: list[str] | None = None) -> None:
        from personalization.v1 import personalization_pb2 as pb

        super().__init__(items)
        self.conversation_ids = conversation_ids
        self.nonce = secrets.token_hex(3)  # a new run starts new conversations
        self._request = pb.DecideRequest

    def payload(self, i: int, sender: int = 0) -> bytes:
        """The ``i``-th request ``sender`` sends."""
        n = len(self)
        if self.conversation_ids is None:
            return self[i % n]
        j = i % n
        cid = f"{self.conversation_ids[j]}-{self.nonce}-{sender}-{i // n}"
        # A message's fields appended to another's bytes parse as if written in place.
        return self[j] + self._request(conversation_id=cid).SerializeToString()


def build_pool(work: Workload, worker: int = 0) -> Pool:
    """Serialized requests for ``work`` (distinct per ``worker``), sent round-robin."""
    from personalization.v1 import personalization_pb2 as pb

    rng = random.Random(work.seed * 1_000_003 + worker)
    size = work.pool_size if work.rpc == "decide" else max(16, work.pool_size // work.batch_size)
    if work.rpc == "decide" and work.conversations:
        reqs, ids = conversation_pool(rng, work, worker, size)
        return Pool([r.SerializeToString() for r in reqs], ids)
    pool: list[bytes] = []
    for i in range(size):
        rid = f"lg{worker}-{i}"
        if work.rpc == "decide":
            msg = decide_request(rng, work, rid)
        elif work.rpc == "batch":
            items = [decide_request(rng, work, f"{rid}-{j}") for j in range(work.batch_size)]
            msg = pb.DecideBatchRequest(requests=items)
        else:
            msg = feast_request(rng, work, work.batch_size)
        pool.append(msg.SerializeToString())
    return Pool(pool)
