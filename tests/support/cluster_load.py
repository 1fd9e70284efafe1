"""Operations on a :class:`~tests.support.redis_cluster.LocalCluster` run beside a Decide
load: a slot migration (MOVED/ASK), a killed master; and what the tests count."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
import redis
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from redis.cluster import RedisCluster
from redis.crc import key_slot

from modelio.feast_compat import redis_key
from modelio.logrecords import DECISIONS, from_stream_entry
from personalization.v1 import personalization_pb2_grpc as pb_grpc
from tests.support.chaos import Outcome
from tests.support.redis_cluster import LocalCluster, Node
from tests.support.servers import make_request


def personalized_ids(stub: pb_grpc.PersonalizationServiceStub, ids: Sequence[str]) -> list[str]:
    """The ids answered personalized (known and consenting) on a healthy cluster."""
    out = []
    for cid in ids:
        reply = stub.Decide(make_request(cid), timeout=5)
        if reply.personalized and not reply.degraded:
            out.append(cid)
    return out


def command_calls(node: Node, command: str) -> int:
    """How often ``node`` ran ``command`` since it started (INFO commandstats)."""
    client = node.client()
    try:
        stats: dict[str, Any] = client.info("commandstats")  # type: ignore[assignment]
        return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))
    finally:
        client.close()


def hmget_calls(node: Node) -> int:
    return command_calls(node, "hmget")


def error_replies(node: Node, prefix: str) -> int:
    """Error replies starting with ``prefix`` (MOVED, ASK...) ``node`` sent (INFO errorstats)."""
    client = node.client()
    try:
        stats: dict[str, Any] = client.info("errorstats")  # type: ignore[assignment]
        return int(stats.get(f"errorstat_{prefix}", {}).get("count", 0))
    finally:
        client.close()


class _Chaos(threading.Thread):
    """A background cluster operation; ``error`` holds what it raised, if anything."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.act()
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc

    def act(self) -> None:
        raise NotImplementedError


def feast_key(customer_id: str, project: str = "support_personalization") -> bytes:
    """The Redis key Feast keeps ``customer_id``'s features under."""
    entity = EntityKey(join_keys=["customer_id"], entity_values=[Value(string_val=customer_id)])
    return redis_key(project, entity)


def slot_owners(client: redis.Redis) -> dict[int, int]:
    """Slot -> port of the master serving it, as ``client``'s node sees the cluster."""
    owner = {}
    for first, last, master, *_ in client.execute_command("CLUSTER", "SLOTS"):
        for slot in range(first, last + 1):
            owner[slot] = int(master[1])
    return owner


class SlotMover(_Chaos):
    """Moves the slots of ``keys`` each to another master, key by key, the way
    ``redis-cli --cluster reshard`` does (IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE).
    It pauses ``pause_s`` after each key while its slot is half-moved, so reads of that key
    get ASK; once a slot is done, reads through the old owner get MOVED."""

    def __init__(self, cluster: LocalCluster, keys: Sequence[bytes], pause_s: float) -> None:
        super().__init__()
        self.cluster, self.pause_s = cluster, pause_s
        self.slots = list(dict.fromkeys(key_slot(k) for k in keys))
        self.moved = self.keys = 0

    def act(self) -> None:
        masters = self.cluster.masters()
        clients = {m.port: m.client() for m in masters}
        try:
            ids = {p: c.execute_command("CLUSTER", "MYID").decode() for p, c in clients.items()}
            owner = slot_owners(clients[masters[0].port])
            ports = [m.port for m in masters]
            for slot in self.slots:
                src = owner[slot]
                dst = ports[(ports.index(src) + 1) % len(ports)]
                self._move(slot, clients[src], clients[dst], ids[src], ids[dst], dst)
                self.moved += 1
        finally:
            for client in clients.values():
                client.close()

    def _move(
        self, slot: int, src: redis.Redis, dst: redis.Redis, src_id: str, dst_id: str, port: int
    ) -> None:
        dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
        src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
        for key in src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
            src.execute_command("MIGRATE", "127.0.0.1", port, key, 0, 5000)
            self.keys += 1
            time.sleep(self.pause_s)  # half-moved slot: ASK for this key
        for client in (dst, src):  # the new owner first, as redis-cli does
            client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)


class Failover(_Chaos):
    """SIGKILLs the master serving ``key`` at ``kill_at_s`` and waits until its replica
    is master (``killed`` and ``promoted`` are monotonic times)."""

    def __init__(
        self, cluster: LocalCluster, key: bytes, kill_at_s: float, timeout_s: float = 15.0
    ) -> None:
        super().__init__()
        self.cluster, self.kill_at_s, self.timeout_s = cluster, kill_at_s, timeout_s
        masters = cluster.masters()
        client = masters[0].client()
        try:
            port = slot_owners(client)[key_slot(key)]
        finally:
            client.close()
        self.master = next(m for m in masters if m.port == port)
        self.replica = cluster.replica_of(self.master)
        self.killed = self.promoted = float("nan")

    def act(self) -> None:
        time.sleep(self.kill_at_s)
        self.master.kill()
        self.killed = time.monotonic()
        while self.cluster.info(self.replica, "replication")["role"] != "master":
            if time.monotonic() - self.killed > self.timeout_s:
                raise TimeoutError(f"{self.replica.address} was not promoted")
            time.sleep(0.02)
        self.promoted = time.monotonic()


def decision_ids(stub: pb_grpc.PersonalizationServiceStub, ids: Sequence[str]) -> list[str]:
    """One Decide per customer; the decision ids answered."""
    return [stub.Decide(make_request(cid), timeout=5).decision_id for cid in ids]


def stream_rows(cluster: LocalCluster, stream: str) -> list[dict[str, object]]:
    """Every row of a decision-log stream, read through a cluster client."""
    client = RedisCluster(host="127.0.0.1", port=cluster.masters()[0].port)
    try:
        return [from_stream_entry(DECISIONS, f) for _, f in client.xrange(stream)]  # type: ignore[union-attr]
    finally:
        client.close()


def wait_logged(
    cluster: LocalCluster, stream: str, wanted: Sequence[str], timeout_s: float = 10.0
) -> set[str]:
    """Poll ``stream`` until every decision id in ``wanted`` is in it; the ids missing."""
    deadline = time.monotonic() + timeout_s
    while True:
        missing = set(wanted) - {str(r["decision_id"]) for r in stream_rows(cluster, stream)}
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.2)


def plot_failover(outcomes: Sequence[Outcome], failover: Failover, dest: Path) -> None:
    """Answers per 250 ms by kind (personalized, degraded, failed) around the kill: the
    PNG docs/scaling.md shows (written when the test is given ``SCALING_PLOT``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0, width = failover.killed, 0.25
    bins: dict[int, list[int]] = {}
    for o in outcomes:
        row = bins.setdefault(int((o.sent - t0) // width), [0, 0, 0])
        kind = 2 if o.code is not grpc.StatusCode.OK else (0 if o.personalized else 1)
        row[kind] += 1
    keys = sorted(bins)
    xs = [k * width for k in keys]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    bottom = [0.0] * len(keys)
    for kind, (label, color) in enumerate(
        [("personalized", "tab:green"), ("degraded", "tab:orange"), ("failed", "tab:red")]
    ):
        heights = [bins[k][kind] / width for k in keys]
        ax.bar(xs, heights, width, bottom=bottom, align="edge", label=label, color=color)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.axvline(0.0, color="black", linestyle="--", linewidth=1)
    ax.axvline(failover.promoted - t0, color="tab:blue", linestyle="--", linewidth=1)
    top = max(bottom) * 1.2
    ax.set_ylim(0, top)
    ax.text(0.05, top * 0.93, "master killed", fontsize=8)
    ax.text(failover.promoted - t0 + 0.05, top * 0.86, "replica promoted", fontsize=8)
    ax.set_xlabel("seconds since the master was killed (SIGKILL)")
    ax.set_ylabel("answers per second")
    ax.set_title("Decide at ~300/s through a Redis Cluster master failover", fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(dest, dpi=110)
    plt.close(fig)
