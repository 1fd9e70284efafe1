"""build_engine wires models, the Feast store and the right reader from Settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from modelio.context import TurnContext
from modelio.manifest import load_manifest, write_manifest
from server.engine.factory import build_engine
from server.engine.types import DecisionRequest
from server.errors import FeatureStoreError, ModelLoadError
from server.features.feast_reader import FeastFeatureReader
from server.features.guard import GuardedReader
from server.features.redis_reader import RedisFeatureReader
from server.settings import Settings
from tests.support.feast import FeastFixture
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis


def settings(fx: FeastFixture, models: Path, **overrides: Any) -> Settings:
    return Settings(feature_repo=fx.repo, models_dir=models, **overrides)


def requests(fx: FeastFixture) -> list[DecisionRequest]:
    ctx = TurnContext("web_chat", "desktop", "technical", 0.2, fx.now, "America/New_York", "en-US")
    ids = [*fx.known_ids[:60], "nobody"]
    return [DecisionRequest(cid, ctx, f"r-{cid}") for cid in ids]


def test_sqlite_and_redis_engines_agree(
    engine_feast_repo: FeastFixture, engine_redis: RedisServer, model_dir: Path
) -> None:
    sqlite = build_engine(settings(engine_feast_repo, model_dir))
    redis = build_engine(
        settings(engine_feast_repo, model_dir, online_store="redis", redis=engine_redis.address)
    )
    try:
        guarded = sqlite._reader, redis._reader
        assert isinstance(guarded[0], GuardedReader) and isinstance(guarded[1], GuardedReader)
        assert isinstance(guarded[0].inner, FeastFeatureReader)
        assert isinstance(guarded[1].inner, RedisFeatureReader)
        assert sqlite.ready() and redis.ready()
        reqs = requests(engine_feast_repo)
        a, b = sqlite.decide_batch(reqs), redis.decide_batch(reqs)
        blank: dict[str, Any] = {"decision_id": "", "feature_age_seconds": 0.0}
        assert [dataclasses.replace(d, **blank) for d in a] == [
            dataclasses.replace(d, **blank) for d in b
        ]
        for x, y in zip(a, b, strict=True):
            assert x.feature_age_seconds == pytest.approx(y.feature_age_seconds, abs=5.0)
        reasons = {d.not_personalized_reason for d in a}
        assert reasons == {"", "no_consent", "unknown_customer"}
    finally:
        sqlite.close()
        redis.close()


def test_missing_models_fail_fast(engine_feast_repo: FeastFixture, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=str(tmp_path)):
        build_engine(settings(engine_feast_repo, tmp_path))


def test_unknown_feature_service_fails_fast(
    engine_feast_repo: FeastFixture, model_dir: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    version = models / "test-v1"
    version.mkdir(parents=True)
    manifest = load_manifest(model_dir / "test-v1")
    for model in manifest.models.values():
        (version / model.path).write_bytes((model_dir / "test-v1" / model.path).read_bytes())
    write_manifest(version, manifest.model_copy(update={"feature_service": "personalization_v9"}))
    (models / "current").write_text("test-v1\n")
    with pytest.raises(FeatureStoreError, match="personalization_v9"):
        build_engine(settings(engine_feast_repo, models))


def test_conversation_state_follows_the_store_and_the_switch(
    engine_feast_repo: FeastFixture, engine_redis: RedisServer, model_dir: Path
) -> None:
    from server.features.conversation import FeastConversationStore
    from server.features.conversation_redis import RedisConversationStore

    redis = {"online_store": "redis", "redis": engine_redis.address}
    for overrides, kind in (({}, FeastConversationStore), (redis, RedisConversationStore)):
        engine = build_engine(settings(engine_feast_repo, model_dir, **overrides))
        try:
            assert engine.conversations is not None
            assert type(engine.conversations.store) is kind
        finally:
            engine.close()
    off = build_engine(settings(engine_feast_repo, model_dir, conversation_state=False))
    try:
        assert off.conversations is None
        req = dataclasses.replace(requests(engine_feast_repo)[0], conversation_id="ignored")
        assert off.decide(req).realtime_fallback_reasons == ()
    finally:
        off.close()
