"""The learning loop around the replay rounds: the other commands, run as subprocesses.

Every invocation of another command (its flag names included) and of the admin RPC is
in this module, so adjusting them to the merged commands is a one-file change:

* ``python -m training feedback --log-dir L --json``
* ``python -m training train --from-log`` (then read ``models/current``)
* ``python -m training evaluate-policy --candidate V --json`` (``dr: {estimate, ci}``)
* ``AdminService/ReloadModels`` with an empty version (loads ``models/current``)

It also starts a server (``python -m server`` on a free port) when no target is given.
training never imports the server package; it only runs it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from modelio.manifest import current_version_dir, load_manifest
from personalization.v1 import admin_pb2, admin_pb2_grpc
from training.replay.driver import Estimate

#: Server setting for the decision/outcome log directory (the decision-log branch's name).
LOG_DIR_ENV = "PERSONALIZATION_DECISION_LOG_DIR"


def training_command(*args: str) -> list[str]:
    """``python -m training ARGS`` with this interpreter."""
    return [sys.executable, "-m", "training", *args]


def run_json(cmd: list[str], cwd: Path | None = None) -> dict[str, Any]:
    """Run ``cmd`` (stderr passes through), fail on a non-zero exit, parse its JSON stdout."""
    done = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {done.returncode}")
    text = done.stdout.strip()
    start = text.find("{")
    return json.loads(text[start:]) if start >= 0 else {}


def manifest_estimate(models_dir: Path) -> Estimate:
    """The current version's own OPE from its training run (manifest ``metrics.nba``:
    ``dr`` and its bootstrap ``dr_ci``; version 0's on its held-out history): the
    estimate made before it served."""
    manifest = load_manifest(current_version_dir(models_dir), verify=False)
    metrics = manifest.metrics.get("nba", {})
    dr, ci = metrics.get("dr"), metrics.get("dr_ci")
    interval = None if ci is None else (float(ci[0]), float(ci[1]))
    return Estimate(manifest.version, None if dr is None else float(dr), interval)


def reload_models(channel: grpc.Channel, timeout: float = 120.0) -> str:
    """AdminService/ReloadModels(version=""): load models/current; return the new version."""
    stub = admin_pb2_grpc.AdminServiceStub(channel)
    reply = stub.ReloadModels(admin_pb2.ReloadModelsRequest(version=""), timeout=timeout)
    return str(reply.loaded_version)


@dataclass
class SubprocessSteps:
    """feedback -> train --from-log -> evaluate-policy --candidate -> reload, per round."""

    channel: grpc.Channel
    models_dir: Path
    log_dir: Path
    cwd: Path | None = None
    extra_train_args: list[str] = field(default_factory=list)

    def initial(self) -> Estimate | None:
        """Version 0's estimate from its own training run (historical logs)."""
        return manifest_estimate(self.models_dir)

    def between(self, finished_round: int) -> Estimate:
        """Learn from the log so far and serve the new version."""
        run_json(training_command("feedback", "--log-dir", str(self.log_dir), "--json"), self.cwd)
        subprocess.run(
            training_command("train", "--from-log", *self.extra_train_args),
            cwd=self.cwd,
            check=True,
            stdout=sys.stderr,
        )
        version = current_version_dir(self.models_dir).name
        report = run_json(
            training_command("evaluate-policy", "--candidate", version, "--json"), self.cwd
        )
        dr = report.get("dr", {})
        ci = dr.get("ci")
        loaded = reload_models(self.channel)
        if loaded != version:
            print(f"[replay]     reload loaded {loaded}, expected {version}", file=sys.stderr)
        return Estimate(loaded, dr.get("estimate"), None if ci is None else (ci[0], ci[1]))


class FixedVersions:
    """No learning between rounds: an experiment holds its versions fixed."""

    def initial(self) -> Estimate | None:
        return None

    def between(self, finished_round: int) -> Estimate:
        return Estimate("", None, None)


def train_bootstrap(args: list[str], cwd: Path | None = None) -> None:
    """Train the weak version 0 (``python -m training train ARGS``, e.g. ``--sample 0.02``)."""
    subprocess.run(training_command("train", *args), cwd=cwd, check=True, stdout=sys.stderr)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_serving(channel: grpc.Channel, timeout: float = 180.0) -> None:
    """Poll the gRPC health service until the server says SERVING."""
    stub = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + timeout
    while True:
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2.0)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.RpcError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"server not SERVING after {timeout:.0f}s")
        time.sleep(0.5)


class ServerProcess:
    """``python -m server`` on a free port, stopped (SIGTERM, then kill) on exit."""

    def __init__(self, repo: Path, models_dir: Path, online_store: str, log_dir: Path) -> None:
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PERSONALIZATION_HOST": "127.0.0.1",
            "PERSONALIZATION_PORT": str(self.port),
            "PERSONALIZATION_MODELS_DIR": str(models_dir.resolve()),
            "PERSONALIZATION_FEATURE_REPO": str(repo.resolve()),
            "PERSONALIZATION_ONLINE_STORE": online_store,
            LOG_DIR_ENV: str(log_dir.resolve()),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        self.proc = subprocess.Popen([sys.executable, "-m", "server"], env=self.env)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
