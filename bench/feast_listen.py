"""Feast's own gRPC feature server, ``feast listen``, as a bench entry.

``feast -c REPO listen -a 127.0.0.1:PORT -w THREADS`` serves
``/GrpcFeatureServer/GetOnlineFeatures`` (feast.protos.feast.serving) from the same
Redis online store, through the same feature_store.yaml switch as everything else
(``FEAST_FS_YAML_FILE_PATH``). It returns features only: no models, no decision, so
it is a lower bound for any design that calls Feast's server and then a model.
"""

from __future__ import annotations

from pathlib import Path

from bench.procs import Child, ProcessGroup, base_env
from modelio.store import feast_cli_env

#: Seconds between registry refreshes; long, so refreshes do not disturb the run.
REGISTRY_TTL_S = 600


def feast_executable() -> str:
    """The ``feast`` script next to this interpreter (works inside a venv)."""
    from training.feast_ops import feast_executable as find

    return find()


def listen_command(repo: Path, port: int, threads: int) -> list[str]:
    """``feast listen`` on 127.0.0.1:PORT with ``threads`` handler threads."""
    return [
        feast_executable(),
        "-c",
        str(repo.resolve()),
        "listen",
        "-a",
        f"127.0.0.1:{port}",
        "-w",
        str(threads),
        "-r",
        str(REGISTRY_TTL_S),
    ]


def start_feast_listen(
    group: ProcessGroup, repo: Path, redis: str, port: int, threads: int
) -> Child:
    """Start ``feast listen`` on the Redis store at ``redis``; not yet known to be ready."""
    env = base_env(**feast_cli_env(repo, "redis", redis))
    return group.start("feast_listen", listen_command(repo, port, threads), env)
