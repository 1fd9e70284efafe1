"""A one-node Redis Cluster for tests: one private redis-server in cluster mode that owns
all 16,384 slots. Enough to exercise RedisCluster clients (slot routing, cluster
pipelines) without the seconds a multi-node ``redis-cli --cluster create`` takes."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


#: Ports (and bus ports) this process gave to a node already.
_HANDED_OUT: set[int] = set()


def _ephemeral_low() -> int:
    """The first port the kernel hands out to outgoing connections (and to bind(0))."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def cluster_port() -> int:
    """A free port whose cluster-bus port (+10000) is free, both below the ephemeral
    range: a bus port in it was once taken by some connection's local port between
    this check and the node's bind ("Address already in use", the node aborted)."""
    rng = random.Random()
    top = _ephemeral_low() - 10_001
    low, top = (10_000, top) if top >= 12_000 else (20_000, 55_000)  # a range that starts low
    for _ in range(200):
        port = rng.randint(low, top)
        if port in _HANDED_OUT or port + 10000 in _HANDED_OUT:
            continue  # another node of this process may not have bound it yet
        if _bindable(port) and _bindable(port + 10000):
            _HANDED_OUT.update((port, port + 10000))
            return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


class SingleNodeCluster:
    """``address`` is ``127.0.0.1:PORT``; ``stop()`` ends this process only."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found: run the tests through scripts/test.sh")
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = cluster_port()
        self.address = f"127.0.0.1:{self.port}"
        cmd = [
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(workdir), "--cluster-enabled", "yes",
            "--cluster-config-file", str(workdir / "nodes.conf"),
            "--logfile", str(workdir / "redis.log"),
        ]  # fmt: skip
        self._log = workdir / "redis.log"
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self._assign_slots()
        except BaseException:
            self.stop()
            raise

    def _assign_slots(self, timeout: float = 10.0) -> None:
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
                    break
                except redis.ConnectionError:
                    if self._proc.poll() is not None or time.monotonic() > deadline:
                        log = self._log.read_text() if self._log.exists() else ""
                        raise RuntimeError(f"cluster node did not start:\n{log}") from None
                    time.sleep(0.05)
            while b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"cluster on {self.address} did not become ready")
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=10)
