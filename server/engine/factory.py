"""Build the real decision engine from ``Settings`` (models, Feast store, reader, log).

Fails fast, before the server reports SERVING: a missing or corrupt model version
raises ``ModelLoadError`` naming the file, and a feature service the Feast registry
does not know raises ``FeatureStoreError`` naming it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from server.engine.conversations import ConversationTracker
from server.engine.decide import DecisionEngine
from server.errors import FeatureStoreError
from server.features.base import FeatureReader, describe_service
from server.features.conversation import (
    CONVERSATION_SERVICE,
    ConversationStore,
    FeastConversationStore,
)
from server.features.feast_reader import FeastFeatureReader
from server.features.guard import GuardedReader, guard_reader
from server.logs.base import RecordLog
from server.logs.setup import build_record_log
from server.models.loading import load_experiment_bundles, read_experiment, resolve_version_dir
from server.models.runner import ModelRunner
from server.settings import Settings

_log = logging.getLogger(__name__)


def open_readers(
    settings: Settings,
    feature_service: str,
    clock: Callable[[], float] = time.time,
) -> tuple[GuardedReader, ConversationTracker | None]:
    """The fastest reader for ``settings.online_store`` (direct Redis reads, else Feast's
    generic path), guarded by the degraded-mode settings (budget, breaker, cache; see
    ``server.features.guard``), and the conversation state kept in the same online store
    (None when ``conversation_state`` is off or the registry lacks the service)."""
    repo, kind = settings.feature_repo, settings.online_store
    try:
        store = settings.open()
    except Exception as exc:  # bad yaml, unknown kind, unreadable registry
        raise FeatureStoreError(f"cannot open the Feast repository {repo} ({kind}): {exc}") from exc
    describe_service(store, feature_service)  # raises FeatureStoreError if unknown
    inner: FeatureReader
    if settings.uses_redis:
        from server.features.redis_reader import RedisFeatureReader

        # Socket timeouts of one budget: the guard then reads on the request's thread.
        timeout = settings.feature_budget_ms / 1000.0
        inner = RedisFeatureReader(store, feature_service, clock=clock, timeout_s=timeout)
    else:
        inner = FeastFeatureReader(store, feature_service, clock=clock)
    conversations = _conversation_store(settings, store, inner, clock)
    tracker = None
    if conversations is not None:
        tracker = ConversationTracker(conversations, settings.realtime_stale_s)
    return guard_reader(inner, settings), tracker


def _conversation_store(
    settings: Settings, store: Any, inner: FeatureReader, clock: Callable[[], float]
) -> ConversationStore | None:
    if not settings.conversation_state:
        return None
    try:
        describe_service(store, CONVERSATION_SERVICE)
    except FeatureStoreError:
        _log.warning(
            "feature service %s is not in the registry (run feast apply): conversation"
            " ids are ignored",
            CONVERSATION_SERVICE,
        )
        return None
    retries = settings.conversation_write_retries
    if isinstance(inner, FeastFeatureReader):
        return FeastConversationStore(inner.store, inner.lock, retries, clock)
    from server.features.conversation_redis import RedisConversationStore
    from server.features.redis_reader import RedisFeatureReader

    assert isinstance(inner, RedisFeatureReader)
    return RedisConversationStore(store, inner.client, retries, clock)


def build_engine(settings: Settings) -> DecisionEngine:
    """Models first (cheap to check, most likely to be wrong), then the store, then the
    decision log (``decision_log``; an unwritable folder raises RecordLogConfigError).
    With ``models/experiment.json`` every arm's and shadow's version is loaded and
    validated too; one bad version (or an invalid file) fails the start."""
    models = settings.models_dir
    experiment = read_experiment(models)  # models/experiment.json, None without one
    if experiment is None:
        runner = ModelRunner.load(models)
    else:
        runner = ModelRunner.load_version(resolve_version_dir(models, experiment.control.version))
    reader, conversations = open_readers(settings, runner.manifest.feature_service)
    log: RecordLog | None = None
    try:
        log = build_record_log(settings)
        engine = DecisionEngine(
            runner,
            reader,
            max_batch=settings.micro_batch_max,
            log=log,
            log_close_timeout_s=settings.decision_log_close_timeout_s,
            conversations=conversations,
        )
        if experiment is not None:  # every arm and shadow validated like a reload
            served = load_experiment_bundles(
                models, experiment, engine.feature_service, engine.served_features()
            )
            engine.swap_experiment(served)
            _log.info("serving %s", served.describe(), extra={"experiment": experiment.name})
        return engine
    except Exception:
        reader.close()
        if log is not None:
            log.close(settings.decision_log_close_timeout_s)
        raise
