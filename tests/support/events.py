"""Helpers for the events consumer tests and the bench: events, settings, a consumer
process, polling."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from modelio.events import Event

_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
_IDS = itertools.count()
PAYLOADS: dict[str, dict[str, Any]] = {
    "activity": {"source": "app", "new_session": True, "page_views": 3, "minutes": 2.5},
    "purchase": {"amount": 19.5, "new_product": False},
    "csat_survey": {"score": 2},
    "consent_change": {"personalization_consent": False},
}


def make_event(
    kind: str,
    customer_id: str,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
    **payload: Any,
) -> Event:
    """A valid event of ``kind`` (payload defaults from PAYLOADS, overridden by kwargs)."""
    fields = {
        "schema_version": 1,
        "event_id": event_id or f"ev-{os.getpid()}-{next(_IDS)}",
        "customer_id": customer_id,
        "occurred_at": occurred_at or datetime.now(UTC),
        "kind": kind,
        **PAYLOADS[kind],
        **payload,
    }
    return _ADAPTER.validate_python(fields)


def copy_feature_repo(source: Path, target: Path) -> Path:
    """A private copy of a built repository (registry, parquet): offline pushes land there."""
    shutil.copytree(source, target)
    return target


def consumer_env(repo: Path, redis_address: str, **overrides: Any) -> dict[str, str]:
    """The environment of a ``python -m server.events`` process over ``repo``."""
    env = dict(os.environ)
    values = {
        "online_store": "redis",
        "redis": redis_address,
        "feature_repo": str(repo),
        "log_level": "WARNING",
        "events_block_ms": 20,
        **overrides,
    }
    env.update({f"PERSONALIZATION_{k.upper()}": str(v) for k, v in values.items()})
    return env


def start_consumer(env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """``python -m server.events`` from ``cwd`` (the worktree root), output into ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "server.events"], env=env, cwd=cwd, stdout=out, stderr=out
        )


def wait_until(predicate: Callable[[], Any], timeout: float, step: float = 0.01) -> Any:
    """Poll ``predicate`` until it returns something truthy; AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"not true within {timeout} s"
        time.sleep(step)


def group_done(client: Any, stream: str, group: str) -> bool:
    """True when the group has read every entry and acknowledged all of them."""
    info = {g["name"].decode(): g for g in client.xinfo_groups(stream)}.get(group)
    return info is not None and info["lag"] == 0 and info["pending"] == 0
