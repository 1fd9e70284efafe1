"""Conversation rows on SQLite (through Feast) and Redis (Lua compare-and-set): what the
server writes Feast serves under ``conversation_state_v1``, idle rows expire, and
concurrent turns of one conversation are never lost."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from modelio.conversation import (
    CONVERSATION_KEY,
    FAILED,
    IDLE_TTL_S,
    ConversationState,
    after_outcome,
    after_turn,
)
from modelio.vocab import FEATURE_SERVICE
from server.features.conversation import (
    CONVERSATION_SERVICE,
    LOST,
    OK,
    UNMATCHED,
    ConversationRead,
    ConversationStore,
    FeastConversationStore,
)
from server.features.conversation_redis import RedisConversationStore
from server.features.feast_reader import FeastFeatureReader
from server.features.redis_reader import RedisFeatureReader
from tests.support.feast import FeastFixture
from tests.support.redis_server import RedisServer


def _turn(action: str, decision_id: str, at_s: float = 1_700_000_000.0) -> Any:
    def fold(state: ConversationState | None) -> ConversationState:
        return after_turn(state, at_s, -0.2, "billing", action, decision_id)

    return fold


def _conv() -> str:
    return f"conv-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_store(
    kind: str, request: pytest.FixtureRequest, engine_feast_repo: FeastFixture
) -> Iterator[Any]:
    """A factory of stores of ``kind`` over the session repo (clock, retries)."""
    address = None
    if kind == "redis":
        address = request.getfixturevalue("engine_redis").address
    closers: list[Any] = []

    def make(clock: Any = time.time, retries: int = 8) -> ConversationStore:
        store = engine_feast_repo.store(kind, address)
        if kind == "sqlite":
            reader = FeastFeatureReader(store, FEATURE_SERVICE)
            return FeastConversationStore(store, reader.lock, retries, clock)
        redis_reader = RedisFeatureReader(store, FEATURE_SERVICE)
        closers.append(redis_reader)
        return RedisConversationStore(store, redis_reader.client, retries, clock)

    make.feast = lambda: engine_feast_repo.store(kind, address)  # type: ignore[attr-defined]
    yield make
    for reader in closers:
        reader.close()


def test_update_then_feast_serves_the_row(make_store: Any) -> None:
    store = make_store()
    cid = _conv()
    assert store.update(cid, _turn("self_service_article", "d1")) == OK
    assert store.update(cid, _turn("guided_troubleshooting", "d2", 1_700_000_060.0)) == OK
    (read,) = store.read([cid])
    assert read.state is not None and read.state.turns == 2
    assert read.state.actions == ("self_service_article", "guided_troubleshooting")
    assert read.state.started_s == 1_700_000_000.0
    assert 0 <= time.time() - read.event_time < 60
    feast = make_store.feast()
    served = feast.get_online_features(
        features=feast.get_feature_service(CONVERSATION_SERVICE),
        entity_rows=[{CONVERSATION_KEY: cid}, {CONVERSATION_KEY: "conv-never-seen"}],
    ).to_dict()
    assert served["turns"] == [2, None]
    assert served["actions"] == ["self_service_article,guided_troubleshooting", None]
    assert served["outcomes"] == ["??", None]
    assert served["decision_ids"] == ["d1,d2", None]
    assert served["started_s"] == [1_700_000_000.0, None]


def test_outcome_marks_the_action_failed_and_unknown_decision_is_unmatched(
    make_store: Any,
) -> None:
    store = make_store()
    cid = _conv()
    store.update(cid, _turn("self_service_article", "d1"))

    def failed(decision_id: str) -> Any:
        return lambda s: None if s is None else after_outcome(s, decision_id, False)

    assert store.update(cid, failed("d1")) == OK
    assert store.update(cid, failed("someone-else")) == UNMATCHED
    assert store.update(_conv(), failed("d1")) == UNMATCHED  # no such conversation
    (read,) = store.read([cid])
    assert read.state is not None and read.state.outcomes == (FAILED,)


def test_idle_state_expires(make_store: Any, kind: str) -> None:
    cid = _conv()
    make_store().update(cid, _turn("self_service_article", "d1"))
    later = make_store(clock=lambda: time.time() + IDLE_TTL_S + 5)
    (read,) = later.read([cid])
    assert read.state is None and read.event_time == -1.0
    # A turn after the idle timeout starts the conversation afresh.
    assert later.update(cid, _turn("priority_queue", "d2")) == OK
    (fresh,) = later.read([cid])
    assert fresh.state is not None and fresh.state.turns == 1
    if kind == "redis":  # Redis forgets the key by itself, renewed on every update
        store = make_store()
        ttl = store._client.ttl(store.key(cid))
        assert 0 < ttl <= IDLE_TTL_S


def test_concurrent_turns_of_one_conversation_are_all_kept(make_store: Any) -> None:
    n = 16
    store = make_store(retries=200)
    cid = _conv()
    barrier = threading.Barrier(n)
    results: list[str] = []

    def turn(i: int) -> None:
        barrier.wait()
        results.append(store.update(cid, _turn("self_service_article", f"d{i}")))

    threads = [threading.Thread(target=turn, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [OK] * n
    (read,) = store.read([cid])
    assert read.state is not None and read.state.turns == n
    assert sorted(read.state.decision_ids) == sorted(f"d{i}" for i in range(n))


def test_stale_version_is_refused_and_retried(make_store: Any) -> None:
    """A write with the version of an earlier read loses; update re-reads and re-applies."""
    store = make_store()
    cid = _conv()
    store.update(cid, _turn("self_service_article", "d1"))
    (old,) = store.read([cid])
    store.update(cid, _turn("guided_troubleshooting", "d2"))
    assert old.state is not None
    assert not store.write(old, after_turn(old.state, 0.0, 0.0, "billing", "x", "d3"), 1.0)
    assert store.update(cid, _turn("priority_queue", "d3"), first=old) == OK
    (read,) = store.read([cid])
    assert read.state is not None and read.state.decision_ids == ("d1", "d2", "d3")


class _AlwaysBehind(ConversationStore):
    """Every compare-and-set loses: the race another writer always wins."""

    def __init__(self) -> None:
        super().__init__(retries=3)
        self.reads = 0

    def read(self, conversation_ids: Any) -> list[ConversationRead]:
        self.reads += 1
        return [ConversationRead(c, None, -1.0) for c in conversation_ids]

    def write(self, read: ConversationRead, state: ConversationState, now: float) -> bool:
        return False


def test_a_race_lost_past_the_retries_is_reported() -> None:
    store = _AlwaysBehind()
    assert store.update("c", _turn("self_service_article", "d1")) == LOST
    assert store.reads == 3


@pytest.mark.redis
def test_redis_reads_conversations_in_the_customers_pipeline(
    engine_feast_repo: FeastFixture, engine_redis: RedisServer
) -> None:
    feast = engine_feast_repo.store("redis", engine_redis.address)
    reader = RedisFeatureReader(feast, FEATURE_SERVICE)
    store = RedisConversationStore(feast, reader.client, 8)
    cid = _conv()
    store.update(cid, _turn("self_service_article", "d1"))
    customers = list(engine_feast_repo.known_ids[:5])
    rows, reads = reader.read_with(customers, store, [cid, "conv-none"])
    assert [r.values for r in rows] == [r.values for r in reader.read(customers)]
    assert [r.conversation_id for r in reads] == [cid, "conv-none"]
    assert reads[0].state is not None and reads[0].state.turns == 1
    assert reads[1].state is None and reads[1].version is None
    assert reads[0] == store.read([cid])[0]
    reader.close()


@pytest.mark.redis
def test_deferred_writes_ride_the_next_read_and_losers_are_redone(
    engine_feast_repo: FeastFixture, engine_redis: RedisServer
) -> None:
    feast = engine_feast_repo.store("redis", engine_redis.address)
    reader = RedisFeatureReader(feast, FEATURE_SERVICE)
    store = RedisConversationStore(feast, reader.client, 8)
    retried: list[Any] = []
    store.on_retry = retried.extend
    cid = _conv()
    store.update(cid, _turn("self_service_article", "d1"))
    (seen,) = store.read([cid])
    assert store.defer([(cid, _turn("guided_troubleshooting", "d2"), seen)]) == []
    assert len(store._outbox) == 1
    _, (got,) = reader.read_with(list(engine_feast_repo.known_ids[:2]), store, [cid])
    assert got.state is not None and got.state.turns == 2  # written ahead of the read
    assert len(store._outbox) == 0 and retried == []
    # A write folded onto a read that is out of date loses its race: redone elsewhere.
    late = _turn("priority_queue", "d3")
    store.defer([(cid, late, seen)])
    store.flush_outbox()
    assert retried == [(cid, late, None)]
    assert store.read([cid])[0].state.turns == 2  # type: ignore[union-attr]
    # Nothing to fold onto (no read): left to the caller's slow path.
    assert store.defer([(cid, late, None)]) == [(cid, late, None)]
    reader.close()
    store.close()


@pytest.mark.redis
def test_a_read_that_breaks_redoes_the_writes_it_carried(
    engine_feast_repo: FeastFixture, engine_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever fails the pipeline (not only a Redis error), the queued writes it took
    go to the slow path and their conversations are no longer in flight."""
    feast = engine_feast_repo.store("redis", engine_redis.address)
    reader = RedisFeatureReader(feast, FEATURE_SERVICE)
    store = RedisConversationStore(feast, reader.client, 8)
    retried: list[Any] = []
    store.on_retry = retried.extend
    cid = _conv()
    store.update(cid, _turn("self_service_article", "d1"))
    (seen,) = store.read([cid])
    turn = _turn("guided_troubleshooting", "d2")
    store.defer([(cid, turn, seen)])

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("a bug below the reader")

    monkeypatch.setattr(reader, "_hmget_many", broken)
    with pytest.raises(ValueError):
        reader.read_with(list(engine_feast_repo.known_ids[:1]), store, [cid])
    assert retried == [(cid, turn, None)] and len(store._outbox) == 0
    assert store._outbox.wait_landed([cid], 0.0)  # not stuck in flight
    reader.close()
    store.close()


def test_turn_folds_are_idempotent() -> None:
    """A write whose reply was lost is redone; the turn it carried must not count twice."""
    from server.engine.conversations import _turn as engine_turn
    from tests.support.engines import turn

    fold = engine_turn(turn("C1"), "self_service_article", "d1")
    once = fold(None)
    assert once is not None and fold(once) is once and once.turns == 1
