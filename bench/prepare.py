"""Data for the bench: simulated customers in a private Redis, and a model version.

Everything goes through the project's own commands, exactly as an operator runs them:
``python -m training simulate`` into a copy of feature_repo/, a private redis-server
on a free port, ``feast apply`` and ``python -m training materialize`` into it, and
``python -m training train`` (or an existing ``--models-dir``, or the tests' tiny model
builder). Every command runs as a child of the bench's ProcessGroup, so an error or
Ctrl-C stops it too.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import Child, ProcessGroup, base_env, python_module, say, start_redis

ROOT = Path(__file__).resolve().parents[1]
STEP_TIMEOUT_S = 3600.0


@dataclass
class BenchData:
    """Where the prepared data lives."""

    repo: Path
    redis: str
    models_dir: Path
    timings_s: dict[str, float] = field(default_factory=dict)
    redis_keys: int = 0

    @property
    def customers_parquet(self) -> Path:
        return self.repo / "data" / "customer_profile.parquet"


@dataclass
class Step:
    """A preparation command running in the background."""

    group: ProcessGroup
    child: Child
    started: float

    def finish(self) -> float:
        """Wait for the command; raise with its log tail if it failed; return seconds."""
        try:
            code = self.child.proc.wait(timeout=STEP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = None
        self.group.stop(self.child)
        if code != 0:
            tail = self.child.log_tail(3000)
            raise RuntimeError(f"{self.child.name} failed ({code}); {self.child.log_path}:\n{tail}")
        return round(time.monotonic() - self.started, 1)


def start_step(
    group: ProcessGroup, name: str, args: list[str], env: dict[str, str] | None = None
) -> Step:
    """Start ``python -m training ARGS`` as a child of ``group``."""
    say(f"{name}: python -m training {' '.join(args)}")
    child = group.start(name, python_module("training", *args), env or base_env())
    return Step(group, child, time.monotonic())


def copy_repo(dest: Path) -> Path:
    """Copy feature_repo/'s declarations (not its data) to ``dest``, with an empty data/."""
    src = ROOT / "feature_repo"
    dest.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.suffix in {".py", ".yaml"}:
            shutil.copy(item, dest / item.name)
    shutil.copytree(src / "stores", dest / "stores", dirs_exist_ok=True)
    # A registry left by an earlier run would make incremental materialization skip rows.
    shutil.rmtree(dest / "data", ignore_errors=True)
    (dest / "data").mkdir()
    return dest


def prepare(
    group: ProcessGroup, workdir: Path, customers: int, models_dir: Path | None, tiny: bool
) -> BenchData:
    """Simulate, start Redis, feast apply, materialize, and find or build the models.

    Nothing may read the registry while materialization runs (Feast rewrites the file),
    so servers other than echo start only after this returns.
    """
    repo = copy_repo(workdir / "feature_repo")
    data = BenchData(repo, "", models_dir.resolve() if models_dir else workdir / "models")
    simulate = ["simulate", "--customers", str(customers), "--out", str(repo / "data")]
    data.timings_s["simulate"] = start_step(group, "simulate", simulate).finish()
    _, data.redis = start_redis(group, workdir / "redis")
    say(f"private redis-server at {data.redis}")
    data.timings_s["apply"] = _apply(repo, data.redis)
    materialize = ["materialize", "--repo", str(repo), "--skip-apply",
                   "--online-store", "redis", "--redis", data.redis]  # fmt: skip
    step = start_step(group, "materialize", materialize)
    if not tiny and models_dir is None:  # training applies the repo itself: not meanwhile
        data.timings_s["materialize"] = step.finish()
    data.timings_s.update(_models(group, data, models_dir is not None, tiny))
    data.timings_s["materialize"] = step.finish()
    data.redis_keys = _count_keys(data.redis)
    if data.redis_keys == 0:
        raise RuntimeError(f"materialization loaded nothing into {data.redis}")
    say(f"online store ready: {data.redis_keys:,} Redis keys")
    return data


def _apply(repo: Path, redis: str) -> float:
    """``feast apply`` on the Redis store config, as ``training materialize`` runs it."""
    from training.feast_ops import apply_repo

    say("feast apply (redis)")
    started = time.monotonic()
    apply_repo(repo, "redis", redis)
    return round(time.monotonic() - started, 1)


def _count_keys(address: str) -> int:
    import redis

    host, _, port = address.rpartition(":")
    client = redis.Redis(host=host, port=int(port))
    try:
        keys: Any = client.dbsize()
        return int(keys)
    finally:
        client.close()


def _models(group: ProcessGroup, data: BenchData, reuse: bool, tiny: bool) -> dict[str, float]:
    """Check, build (tiny) or train the model version; returns the step's duration."""
    models = data.models_dir
    if reuse:
        if not (models / "current").exists():
            raise RuntimeError(f"{models}: no 'current' model version to reuse")
        return {}
    if tiny:
        started = time.monotonic()
        _tiny_models(models)
        return {"models": round(time.monotonic() - started, 1)}
    train = [
        "train",
        "--data-dir",
        str(data.repo / "data"),
        "--repo",
        str(data.repo),
        "--models-dir",
        str(models),
        "--online-store",
        "redis",
    ]
    env = base_env(PERSONALIZATION_REDIS=data.redis)
    return {"train": start_step(group, "train", train, env).finish()}


def _tiny_models(models: Path) -> None:
    """A small real model version from the tests' builder (needs the repo's tests/)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:  # imported by name: tests/ is not part of the package (nor of mypy's scope)
        builder = importlib.import_module("tests.support.models")
    except ImportError as exc:
        raise RuntimeError("--tiny without --models-dir needs tests/support/models.py") from exc
    models.mkdir(parents=True, exist_ok=True)
    # The layout `training train` writes by default: every server meets conversation inputs.
    builder.make_model_version(models, "bench-tiny", conversation=True)
