"""A real local Redis Cluster for tests: 3 masters with one replica each (6 redis-server
processes on free loopback ports, each in its own folder), joined with
``redis-cli --cluster create``. ``cluster-node-timeout`` is short (1 s) so a killed
master's replica takes over within a few seconds. :func:`local_cluster` tears every
process down, whatever the test did."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from tests.support.cluster import cluster_port

NODE_TIMEOUT_MS = 1000


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found: run the tests through scripts/test.sh")
    return path


@dataclass
class Node:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


def _start_node(workdir: Path) -> Node:
    workdir.mkdir(parents=True, exist_ok=True)
    port = cluster_port()
    log = workdir / "redis.log"
    cmd = [
        _binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
        "--save", "", "--appendonly", "no", "--dir", str(workdir),
        "--cluster-enabled", "yes", "--cluster-config-file", str(workdir / "nodes.conf"),
        "--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--logfile", str(log),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return Node(port, proc, log)


class LocalCluster:
    """``nodes`` in start order; :meth:`masters` / :meth:`replica_of` read the live topology."""

    def __init__(self, workdir: Path, masters: int = 3) -> None:
        self.nodes: list[Node] = []
        try:
            for i in range(2 * masters):
                self.nodes.append(_start_node(workdir / f"node-{i}"))
            for i in range(len(self.nodes)):
                self._wait_up(i, workdir)
            self._create()
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise

    @property
    def address(self) -> str:
        """Seed nodes as the service takes them (``host:port,host:port,...``)."""
        return ",".join(n.address for n in self.nodes if n.alive())

    def _wait_up(self, i: int, workdir: Path, attempts: int = 3) -> None:
        """Node ``i`` answers PING; one whose port was taken meanwhile by another socket
        (it aborts: "Address already in use") is started again on other ports."""
        for attempt in range(attempts):
            try:
                self._wait_ping(self.nodes[i])
                return
            except RuntimeError as exc:
                if "Address already in use" not in str(exc) or attempt == attempts - 1:
                    raise
                self.nodes[i] = _start_node(workdir / f"node-{i}-{attempt + 1}")

    def _wait_ping(self, node: Node, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        client = node.client()
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if not node.alive() or time.monotonic() > deadline:
                        text = node.log.read_text() if node.log.exists() else ""
                        raise RuntimeError(f"cluster node did not start:\n{text}") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def _create(self) -> None:
        nodes = [n.address for n in self.nodes]
        cmd = [_binary("redis-cli"), "--cluster", "create", *nodes, "--cluster-replicas", "1",
               "--cluster-yes"]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{done.stdout}{done.stderr}")

    def info(self, node: Node, section: str) -> dict[str, str]:
        """``INFO section`` of ``node``; "cluster" means CLUSTER INFO (the state)."""
        client = node.client()
        try:
            if section == "cluster":
                text = client.execute_command("CLUSTER", "INFO").decode()
                return dict(line.split(":", 1) for line in text.split() if ":" in line)
            raw: dict[str, Any] = client.info(section)  # type: ignore[assignment]
            return {k: str(v) for k, v in raw.items()}
        finally:
            client.close()

    def masters(self) -> list[Node]:
        """Live nodes that are masters now (a promoted replica included)."""
        return [
            n for n in self.nodes if n.alive() and self.info(n, "replication")["role"] == "master"
        ]

    def replica_of(self, master: Node) -> Node:
        for node in self.nodes:
            if node is master or not node.alive():
                continue
            repl = self.info(node, "replication")
            if repl["role"] == "slave" and int(repl["master_port"]) == master.port:
                return node
        raise LookupError(f"no replica of {master.address}")

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Every live node sees ``cluster_state:ok``, 3 masters each with an up-to-date
        replica link (so a later failover has the data)."""
        deadline = time.monotonic() + timeout
        while True:
            problems = self._problems()
            if not problems:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster not healthy: {problems}")
            time.sleep(0.1)

    def _problems(self) -> list[str]:
        problems = []
        for node in (n for n in self.nodes if n.alive()):
            try:
                if self.info(node, "cluster").get("cluster_state") != "ok":
                    problems.append(f"{node.address} state not ok")
                repl = self.info(node, "replication")
                if repl["role"] == "slave" and repl.get("master_link_status") != "up":
                    problems.append(f"{node.address} replica link down")
            except redis.RedisError as exc:
                problems.append(f"{node.address}: {exc!r}")
        return problems

    def sync_replicas(self) -> None:
        """Block until every master's writes reached its replica (``WAIT 1``)."""
        for master in self.masters():
            client = master.client()
            try:
                if int(client.execute_command("WAIT", 1, 5000)) < 1:
                    raise RuntimeError(f"replica of {master.address} did not catch up")
            finally:
                client.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()


@contextmanager
def local_cluster(workdir: Path) -> Iterator[LocalCluster]:
    cluster = LocalCluster(workdir)
    try:
        yield cluster
    finally:
        cluster.stop()
