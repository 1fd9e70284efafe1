"""``feast apply`` through Feast's own CLI, and incremental materialization in process.

``apply`` runs the same command an ML engineer types (``feast -c feature_repo apply``);
``python -m training materialize``, ``train`` and ``evaluate`` call it.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from modelio.store import feast_cli_env, open_store

log = logging.getLogger(__name__)


class ApplyError(RuntimeError):
    """``feast apply`` failed; the message holds Feast's own output."""


def feast_executable() -> str:
    """The ``feast`` script of this interpreter's environment (works inside a venv)."""
    candidate = Path(sys.executable).with_name("feast")
    return str(candidate) if candidate.exists() else "feast"


def apply_repo(repo: Path, kind: str = "sqlite", redis: str | None = None) -> str:
    """Run ``feast -c REPO apply`` on the selected store; return Feast's output."""
    cmd = [feast_executable(), "-c", str(repo.resolve()), "apply"]
    env = feast_cli_env(repo, kind, redis)
    env.setdefault("FEAST_USAGE", "False")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ApplyError(f"feast apply failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def materialize(
    repo: Path, kind: str = "sqlite", redis: str | None = None, end: datetime | None = None
) -> None:
    """Incrementally materialize every feature view up to ``end`` (default: now)."""
    store = open_store(repo, kind, redis)
    store.materialize_incremental(end_date=end or datetime.now(UTC))
