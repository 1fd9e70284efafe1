"""Child processes of the bench (servers, redis-server) that are always stopped.

Every process is started in its own session with output going to a log file (never
a pipe that could fill up), is registered in a :class:`ProcessGroup`, and is stopped
by its own handle: SIGTERM, then SIGKILL after a grace period. ``ProcessGroup`` is a
context manager, so an exception or Ctrl-C in the bench still stops everything.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

_T0 = time.monotonic()


def say(message: str) -> None:
    """A progress line on stderr, with seconds since the bench started."""
    print(f"[bench {time.monotonic() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Child:
    """One started process with its log file."""

    def __init__(
        self, name: str, cmd: Sequence[str], log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name, self.cmd, self.log_path = name, list(cmd), log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            self.cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def cpu_s(self) -> float | None:
        """CPU seconds (user + system) used so far by this process and its live
        children (e.g. ``--workers`` processes); None without psutil or once it exited."""
        try:
            import psutil
        except ImportError:
            return None
        try:
            root = psutil.Process(self.pid)
            total = 0.0
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    times = proc.cpu_times()
                    total += times.user + times.system
            return total
        except psutil.NoSuchProcess:
            return None

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the child's log (for error messages)."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_until(self, check: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Poll ``check`` until it returns True; raise with the log tail if it never does."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(
                    f"{self.name} exited ({self.proc.returncode}) before {what}:\n{self.log_tail()}"
                )
            try:
                if check():
                    return
            except Exception:  # not up yet
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name}: no {what} within {timeout_s:g}s:\n{self.log_tail()}")

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM this process (only it), then SIGKILL if it outlives ``grace_s``."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()


class ProcessGroup:
    """Children started by the bench; all stopped on exit, most recent first."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []

    def start(self, name: str, cmd: Sequence[str], env: dict[str, str] | None = None) -> Child:
        child = Child(name, cmd, self.log_dir / f"{name}.log", env)
        self.children.append(child)
        return child

    def stop(self, child: Child) -> None:
        child.stop()
        if child in self.children:
            self.children.remove(child)

    def stop_all(self) -> None:
        while self.children:
            self.children.pop().stop()

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_all()


def python_module(module: str, *args: str) -> list[str]:
    """Command running ``python -m module args`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def redis_command(port: int, workdir: Path) -> list[str]:
    """argv of a private redis-server on loopback ``port``, persistence off."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    return [
        binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
        "--appendonly", "no", "--dir", str(workdir), "--daemonize", "no",
    ]  # fmt: skip


def start_redis(group: ProcessGroup, workdir: Path) -> tuple[Child, str]:
    """A private redis-server on a free port, persistence off; returns it and host:port."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = redis_command(port, workdir)
    child = group.start("redis", cmd)
    address = f"127.0.0.1:{port}"
    child.wait_until(lambda: _redis_ping(port), 15, "redis PONG")
    return child, address


def _redis_ping(port: int) -> bool:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
    try:
        return bool(client.ping())
    finally:
        client.close()


def base_env(**extra: str) -> dict[str, str]:
    """This environment with the repository on PYTHONPATH and ``extra`` added."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env["FEAST_USAGE"] = "False"
    env.update(extra)
    return env
