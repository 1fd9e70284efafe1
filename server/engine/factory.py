"""Build the real decision engine from ``Settings`` (models, Feast store, reader).

Fails fast, before the server reports SERVING: a missing or corrupt model version
raises ``ModelLoadError`` naming the file, and a feature service the Feast registry
does not know raises ``FeatureStoreError`` naming it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server.engine.decide import DecisionEngine
from server.engine.errors import FeatureStoreError
from server.features.base import FeatureReader, describe_service
from server.features.feast_reader import FeastFeatureReader
from server.features.guard import GuardedReader, guard_reader
from server.models.runner import ModelRunner

REDIS_KINDS = ("redis", "redis_cluster")
DEFAULT_BUDGET_MS = 20.0


def open_reader(
    repo: Path,
    kind: str,
    redis: str | None,
    feature_service: str,
    budget_ms: float | None = None,
    clock: Callable[[], float] = time.time,
    settings: Any = None,
) -> GuardedReader:
    """The fastest reader for ``kind`` (direct Redis reads, else Feast's generic path),
    guarded by the degraded-mode settings (budget, breaker, cache; see
    ``server.features.guard``). ``budget_ms`` overrides ``settings.feature_budget_ms``.
    """
    from modelio.store import open_store

    try:
        store = open_store(repo, kind, redis)
    except Exception as exc:  # bad yaml, unknown kind, unreadable registry
        raise FeatureStoreError(f"cannot open the Feast repository {repo} ({kind}): {exc}") from exc
    describe_service(store, feature_service)  # raises FeatureStoreError if unknown
    budget_ms = budget_ms or getattr(settings, "feature_budget_ms", None) or DEFAULT_BUDGET_MS
    inner: FeatureReader
    if kind in REDIS_KINDS:
        from server.features.redis_reader import RedisFeatureReader

        # Socket timeouts of one budget: the guard then reads on the request's thread.
        timeout = budget_ms / 1000.0
        inner = RedisFeatureReader(store, feature_service, clock=clock, timeout_s=timeout)
    else:
        inner = FeastFeatureReader(store, feature_service, clock=clock)
    return guard_reader(inner, settings, budget_ms)


def build_engine(settings: Any) -> DecisionEngine:
    """Models first (cheap to check, most likely to be wrong), then the store."""
    runner = ModelRunner.load(Path(settings.models_dir))
    reader = open_reader(
        Path(settings.feature_repo),
        settings.online_store,
        getattr(settings, "redis", None),
        runner.manifest.feature_service,
        settings=settings,
    )
    try:
        return DecisionEngine(runner, reader, max_batch=int(settings.micro_batch_max))
    except Exception:
        reader.close()
        raise
