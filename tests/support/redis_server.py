"""Start a private redis-server on a free loopback port (never the shared one on 6379)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.procs import free_port, redis_command


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def start_redis(workdir: Path, port: int | None = None, password: str | None = None) -> RedisServer:
    """Start redis-server (no persistence) and wait until it answers PING (with
    ``password``, it requires AUTH: NOAUTH is its answer then)."""
    port = port or free_port()
    cmd = [*redis_command(port, workdir), "--protected-mode", "yes"]
    if password is not None:
        cmd += ["--requirepass", password]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = RedisServer(port, proc)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith((b"+PONG", b"-NOAUTH")):
                    return server
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"redis-server did not start on port {port}")


@contextmanager
def running_redis(workdir: Path) -> Iterator[RedisServer]:
    server = start_redis(workdir)
    try:
        yield server
    finally:
        server.stop()
