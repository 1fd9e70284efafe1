"""The service on a real Redis Cluster: 3 masters with a replica each (tests.support.
redis_cluster), the test repo materialized into it, a real server reading through it.

* reads spread over every master;
* a slot migration under load (MOVED and ASK redirects): every call OK, personalized;
* a master killed under load (SIGKILL; its replica takes over): every call OK,
  degraded answers only inside the failover window, personalized again after it;
* the decision log streams into the cluster, before and after the failover (the killed
  master held the stream), and ``python -m training forget`` erases a customer's hash
  and stream entries on it.

Load is open loop from this process (tests.support.chaos.open_loop) at up to 300
Decide/s, half of what the server completes on this machine (paced_rate: a slower box
must not fail a failover test on throughput), bounded in count; each call has a 2 s
deadline.
"""

from __future__ import annotations

import collections
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from redis.cluster import RedisCluster

from personalization.v1 import personalization_pb2 as pb
from personalization.v1 import personalization_pb2_grpc as pb_grpc
from server.app import create_server, shutdown
from tests.support.chaos import Outcome, open_loop, paced_rate, summarize
from tests.support.cluster_load import (
    Failover,
    SlotMover,
    decision_ids,
    error_replies,
    feast_key,
    hmget_calls,
    personalized_ids,
    plot_failover,
    stream_rows,
    wait_logged,
)
from tests.support.erasure import run_in_process
from tests.support.feast import FeastFixture, materialize
from tests.support.redis_cluster import LocalCluster, local_cluster
from tests.support.servers import make_request, test_settings

pytestmark = [pytest.mark.redis, pytest.mark.slow]

RATE = 300.0
#: After the replica took over: time for the reader's slot map and the breaker's probe.
SETTLE_S = 1.5
PREFIX = "t-cluster"
STREAM = f"{PREFIX}:decisions"


@dataclass
class Served:
    cluster: LocalCluster
    stub: pb_grpc.PersonalizationServiceStub
    ids: list[str]  # customers personalized while the cluster is healthy
    rate: float  # open-loop calls/s (paced_rate)

    def request(self, i: int) -> pb.DecideRequest:
        return make_request(self.ids[i % len(self.ids)])


@pytest.fixture(scope="module")
def served(
    engine_feast_repo: FeastFixture, model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    with local_cluster(tmp_path_factory.mktemp("cluster")) as cluster:
        materialize(engine_feast_repo, "redis_cluster", cluster.address)
        cluster.sync_replicas()
        settings = test_settings(
            feature_repo=engine_feast_repo.repo,
            models_dir=model_dir,
            online_store="redis_cluster",
            redis=cluster.address,
            thread_pool_size=8,
            # The load shares this process's GIL on 2 busy cores (see test_chaos).
            feature_budget_ms=100.0,
            decision_log="redis",
            decision_log_stream_prefix=PREFIX,
            decision_log_flush_s=0.2,
            log_level="ERROR",
        )
        server, port = create_server(settings)
        server.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        try:
            grpc.channel_ready_future(channel).result(timeout=10)
            stub = pb_grpc.PersonalizationServiceStub(channel)
            ids = personalized_ids(stub, engine_feast_repo.known_ids[:600])
            assert len(ids) > 300
            rate = paced_rate(stub, lambda i: make_request(ids[i % len(ids)]), RATE)
            print(f"\nopen-loop load: {rate:.0f} Decide/s")
            yield Served(cluster, stub, ids, rate)
        finally:
            channel.close()
            shutdown(server, 2.0)


def test_reads_spread_over_every_master(served: Served) -> None:
    before = {m.port: hmget_calls(m) for m in served.cluster.masters()}
    outcomes = open_loop(served.stub, served.request, served.rate, 1.0)
    assert {o.code for o in outcomes} == {grpc.StatusCode.OK}
    after = {m.port: hmget_calls(m) for m in served.cluster.masters()}
    spread = {port: after[port] - before[port] for port in before}
    print(f"\nHMGETs per master for {len(outcomes)} calls: {sorted(spread.values())}")
    assert len(spread) == 3
    assert all(calls > 0.15 * len(outcomes) for calls in spread.values()), spread


def test_conversation_state_on_the_cluster(served: Served) -> None:
    """Conversation rows live on the cluster too (one key per script call): a failed
    action is not chosen again in the conversation."""
    ts = Timestamp()
    ts.GetCurrentTime()
    for i, customer in enumerate(served.ids[:40]):
        req = make_request(customer, sentiment=0.2)
        req.conversation_id = f"cluster-conv-{os.getpid()}-{i}"
        first = served.stub.Decide(req, timeout=5)
        if first.next_best_action.action == pb.ACTION_HUMAN_HANDOFF:
            continue  # never ruled out by the policy
        outcome = pb.RecordOutcomeRequest(
            decision_id=first.decision_id, event_time=ts, conversation_id=req.conversation_id
        )
        served.stub.RecordOutcome(outcome, timeout=5)
        req.context.turn_index = 4
        second = served.stub.Decide(req, timeout=5)
        assert list(second.realtime_fallback_reasons) == []
        assert second.next_best_action.action != first.next_best_action.action
        return
    raise AssertionError("every first turn was a handoff")


def test_slot_migration_under_load(served: Served) -> None:
    """The slots of 20 customers move between masters while those customers are asked
    for under the open-loop load: ASK while a slot is half-moved, MOVED once it is done. Nothing
    fails, and no answer is degraded by a store error."""
    hot = served.ids[:20]
    masters = served.cluster.masters()
    redirects = {p: sum(error_replies(m, p) for m in masters) for p in ("MOVED", "ASK")}
    mover = SlotMover(served.cluster, [feast_key(cid) for cid in hot], pause_s=0.15)
    mover.start()
    outcomes = open_loop(served.stub, lambda i: make_request(hot[i % len(hot)]), served.rate, 4.0)
    mover.join(timeout=30)
    stats = summarize(outcomes)
    for prefix in redirects:
        redirects[prefix] = sum(error_replies(m, prefix) for m in masters) - redirects[prefix]
    print(f"\nslot migration: {mover.moved} slots, {mover.keys} keys; {stats}; {redirects}")
    assert mover.error is None, mover.error
    assert mover.moved == len(mover.slots) >= 15
    assert redirects["MOVED"] > 0 and redirects["ASK"] > 0, redirects
    assert stats.failed == 0, stats
    # No store error at all; a rare read slower than the budget on a busy box is normal.
    assert {r for o in outcomes for r in o.reasons} <= {"feature_timeout"}, stats
    assert stats.personalized_share >= 0.99, stats


def test_decision_log_streams_into_the_cluster(served: Served) -> None:
    answered = decision_ids(served.stub, served.ids[:50])
    assert wait_logged(served.cluster, STREAM, answered) == set()


def test_master_killed_under_load(served: Served) -> None:
    """SIGKILL one master (the one holding the decision-log stream) at ~2 s of 10 s: no
    call fails; answers are degraded only from the kill until the replica took over
    (+ SETTLE_S); >= 95% personalized after that."""
    failover = Failover(served.cluster, STREAM.encode(), kill_at_s=2.0)
    failover.start()
    outcomes = open_loop(served.stub, served.request, served.rate, 10.0)
    failover.join(timeout=30)
    assert failover.error is None, failover.error
    stats = summarize(outcomes)
    window_end = failover.promoted + SETTLE_S
    before = [o for o in outcomes if o.done < failover.killed]
    late = [o for o in outcomes if o.sent > window_end]
    outside: list[Outcome] = [o for o in before + late if o.degraded]
    reasons = collections.Counter(r for o in outcomes for r in o.reasons)
    # Store errors, not a rare read slower than the budget on a busy box.
    hit = [o for o in outcomes if set(o.reasons) - {"feature_timeout"}]
    last = max((o.done for o in hit), default=failover.killed) - failover.killed
    print(
        f"\nfailover: replica promoted {failover.promoted - failover.killed:.2f} s after the "
        f"kill; last answer degraded by a store error {last:.2f} s after it; {stats}; "
        f"reasons {dict(reasons)}; after the window {summarize(late)}"
    )
    if plot := os.environ.get("SCALING_PLOT"):
        plot_failover(outcomes, failover, Path(plot))
    assert stats.failed == 0, stats
    assert len(late) > served.rate, len(late)  # >= 1 s of load after the window, even on a slow box
    assert summarize(late).personalized_share >= 0.95
    assert sum(o.degraded for o in before) <= 0.05 * len(before)
    assert len(outside) <= 0.05 * len(late), outside[:3]


def test_decision_log_after_the_failover(served: Served) -> None:
    """The stream's new master (the promoted replica) takes the log's writes."""
    answered = decision_ids(served.stub, served.ids[50:100])
    assert wait_logged(served.cluster, STREAM, answered) == set()


def test_forget_erases_from_the_cluster(
    served: Served, engine_feast_repo: FeastFixture, tmp_path: Path
) -> None:
    """``forget`` on the real cluster (after the failover): the customer's Feast hash and
    stream entries go, the server then answers them unknown; others are untouched."""
    gone, kept = served.ids[3], served.ids[4]
    assert any(r["customer_id"] == gone for r in stream_rows(served.cluster, STREAM))
    repo = tmp_path / "repo"  # a copy: forget also cleans the repo's parquet and SQLite
    shutil.copytree(engine_feast_repo.repo, repo)
    argv = [gone, "--repo", str(repo), "--online-store", "redis_cluster",
            "--redis", served.cluster.address, "--stream-prefix", PREFIX,
            "--log-dir", str(tmp_path / "no-logs")]  # fmt: skip
    code, out = run_in_process(argv)
    assert code == 0, out
    assert "online   redis_cluster: 1 key" in out, out
    assert f"redis {STREAM}" in out, out
    assert not any(r["customer_id"] == gone for r in stream_rows(served.cluster, STREAM))
    client = RedisCluster(host="127.0.0.1", port=served.cluster.masters()[0].port)
    try:
        assert client.exists(feast_key(gone)) == 0
        assert client.exists(feast_key(kept)) == 1
    finally:
        client.close()
    after = served.stub.Decide(make_request(gone), timeout=5)
    assert (after.personalized, after.not_personalized_reason) == (False, "unknown_customer")
    assert served.stub.Decide(make_request(kept), timeout=5).personalized
