"""The request mix: which customers and which conversation turns the load generator sends.

Requests are built once into a pool of serialized messages and sent round-robin, so
the send loop costs no protobuf encoding. The mix: known customers (ids from the
feature store's parquet or ``PREFIX + zero-padded index``), a share of unknown ones, and
turns spread over channels, devices, issue categories, sentiment, time zones, locales
and turn indices with plausible (not uniform) weights.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf.message import Message

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
    #: > 0: every Decide is a turn of one of this many conversations (conversation_id)
    conversations: int = 0

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


def _pick(rng: random.Random, weights: dict[int, float]) -> int:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _customer(rng: random.Random, work: Workload) -> str:
    if not work.known_ids or rng.random() < work.unknown_share:
        return f"U{rng.randrange(10**9):09d}"
    return rng.choice(work.known_ids)


def decide_request(rng: random.Random, work: Workload, request_id: str) -> Any:
    """One realistic DecideRequest."""
    from personalization.v1 import personalization_pb2 as pb

    channel = _pick(rng, CHANNELS)
    device = rng.choice((2, 2, 3)) if channel == 2 else _pick(rng, DEVICES)
    req = pb.DecideRequest(customer_id=_customer(rng, work), request_id=request_id)
    if work.conversations:
        req.conversation_id = f"lg-conv-{rng.randrange(work.conversations):07d}"
    ctx: Any = req.context  # enum fields take plain ints
    ctx.channel = channel
    ctx.device_type = device
    ctx.issue_category = _pick(rng, CATEGORIES)
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

    ids = [Value(string_val=_customer(rng, work)) for _ in range(count)]
    req = GetOnlineFeaturesRequest(feature_service=work.feature_service)
    req.entities["customer_id"].CopyFrom(RepeatedValue(val=ids))
    return req


def build_pool(work: Workload, worker: int = 0) -> list[bytes]:
    """Serialized requests for ``work`` (distinct per ``worker``), sent round-robin."""
    from personalization.v1 import personalization_pb2 as pb

    rng = random.Random(work.seed * 1_000_003 + worker)
    size = work.pool_size if work.rpc == "decide" else max(16, work.pool_size // work.batch_size)
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
    return pool
