"""Tools for degraded-mode tests: a private Redis copy, a slow TCP proxy, an open-loop
Decide load. Loopback only; every loop is bounded in count and time."""

from __future__ import annotations

import collections
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import grpc
import redis

from personalization.v1 import personalization_pb2 as pb
from personalization.v1 import personalization_pb2_grpc as pb_grpc
from tests.support.redis_server import RedisServer, start_redis


def _client(address: str) -> redis.Redis:
    host, _, port = address.rpartition(":")
    return redis.Redis(host=host, port=int(port), socket_timeout=5)


def clone_redis(source: str, target: str) -> int:
    """Copy every key of ``source`` into ``target`` (DUMP/RESTORE); return the count."""
    src, dst = _client(source), _client(target)
    keys = list(src.scan_iter(count=1000))
    dumps = src.pipeline(transaction=False)
    for key in keys:
        dumps.dump(key)
    restore = dst.pipeline(transaction=False)
    for key, blob in zip(keys, dumps.execute(), strict=True):
        restore.restore(key, 0, blob, replace=True)
    restore.execute()
    src.close()
    dst.close()
    return len(keys)


@contextmanager
def private_redis(workdir: Path, source: RedisServer) -> Iterator[RedisServer]:
    """A redis-server of our own holding a copy of ``source`` and a dump.rdb of it, so a
    restart on the same port (``start_redis(workdir, port)``) comes back with the data."""
    server = start_redis(workdir)
    try:
        assert clone_redis(source.address, server.address) > 0
        _client(server.address).save()
        yield server
    finally:
        server.stop()


class DelayProxy:
    """Loopback TCP proxy to ``upstream_port`` that holds every reply for ``delay_s``."""

    def __init__(self, upstream_port: int, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self._upstream = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            upstream = socket.create_connection(("127.0.0.1", self._upstream), timeout=5)
            client.settimeout(None)
            upstream.settimeout(None)
            self._sockets += [client, upstream]
            for src, dst, slow in ((client, upstream, False), (upstream, client, True)):
                thread = threading.Thread(target=self._pump, args=(src, dst, slow), daemon=True)
                thread.start()
                self._threads.append(thread)

    def _pump(self, src: socket.socket, dst: socket.socket, slow: bool) -> None:
        try:
            while data := src.recv(65536):
                if slow and self.delay_s:
                    time.sleep(self.delay_s)
                dst.sendall(data)
        except OSError:
            pass
        finally:  # one side gone: close both, so the other pump ends too
            for sock in (src, dst):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for sock in self._sockets:
            with suppress(OSError):  # wakes a pump blocked in recv(); close() alone does not
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=2)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One Decide call: when it was sent and answered (monotonic s) and how."""

    sent: float
    done: float
    code: grpc.StatusCode
    degraded: bool = False
    reasons: tuple[str, ...] = ()
    personalized: bool = False


@dataclass(frozen=True)
class Stats:
    """What a list of :class:`Outcome` came to (:func:`summarize`)."""

    calls: int
    failed: int  # any status but OK
    degraded: int
    personalized_share: float  # of the OK answers
    codes: tuple[tuple[str, int], ...] = ()  # the failed calls' status codes, most common first

    def __str__(self) -> str:
        failed = f" {dict(self.codes)}" if self.codes else ""
        return (
            f"{self.calls} calls, {self.failed} failed{failed}, {self.degraded} degraded, "
            f"{self.personalized_share:.1%} personalized"
        )


def summarize(outcomes: Sequence[Outcome]) -> Stats:
    """What ``outcomes`` came to: calls, failures (by code), degraded, personalized."""
    ok = [o for o in outcomes if o.code is grpc.StatusCode.OK]
    share = sum(o.personalized for o in ok) / len(ok) if ok else 0.0
    codes = collections.Counter(o.code.name for o in outcomes if o.code is not grpc.StatusCode.OK)
    return Stats(
        len(outcomes),
        len(outcomes) - len(ok),
        sum(o.degraded for o in ok),
        share,
        tuple(codes.most_common()),
    )


def open_loop(
    stub: pb_grpc.PersonalizationServiceStub,
    make_request: Callable[[int], pb.DecideRequest],
    rate: float,
    duration_s: float,
    deadline_s: float = 2.0,
) -> list[Outcome]:
    """Send ``rate`` Decide calls per second for ``duration_s`` s on a fixed schedule
    (open loop: a slow answer never delays the next send) and return every outcome."""
    outcomes: list[Outcome] = []
    pending: list[grpc.Future] = []

    def record(sent: float, future: grpc.Future) -> None:
        done = time.monotonic()
        code = future.code()
        if code is grpc.StatusCode.OK:
            r = future.result()
            outcomes.append(
                Outcome(sent, done, code, r.degraded, tuple(r.degraded_reasons), r.personalized)
            )
        else:
            outcomes.append(Outcome(sent, done, code))

    total = int(rate * duration_s)
    start = time.monotonic()
    for i in range(total):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent = time.monotonic()
        future = stub.Decide.future(make_request(i), timeout=deadline_s)
        future.add_done_callback(lambda f, sent=sent: record(sent, f))
        pending.append(future)
    end = time.monotonic() + deadline_s + 5.0
    for future in pending:  # every call has a deadline, so this is bounded too
        try:
            future.exception(timeout=max(0.0, end - time.monotonic()))
        except grpc.FutureTimeoutError:
            break
    # Callbacks run on gRPC's threads, a moment after the future completes.
    while len(outcomes) < len(pending) and time.monotonic() < end:
        time.sleep(0.01)
    return list(outcomes)


#: Below this open-loop rate a chaos test's counts say too little (a few calls a second).
MIN_RATE = 50.0


def paced_rate(
    stub: pb_grpc.PersonalizationServiceStub,
    make_request: Callable[[int], pb.DecideRequest],
    ceiling: float,
    share: float = 0.5,
    seconds: float = 1.0,
    threads: int = 8,
) -> float:
    """An open-loop rate this machine keeps up with: ``share`` of the Decide calls/s
    ``threads`` closed-loop callers complete in ``seconds`` (from this process, so the
    load's own share of the GIL counts), at most ``ceiling``.

    A chaos test asserts what a failure does to answers, not the box's throughput: at a
    fixed rate a slower or busier machine than the one it was written on queues calls
    past the concurrency cap (RESOURCE_EXHAUSTED) or the deadline, and fails for that.
    """
    done = [0] * threads
    start = time.monotonic()
    stop = start + seconds

    def caller(k: int) -> None:
        i = k
        while time.monotonic() < stop:
            try:
                stub.Decide(make_request(i), timeout=5)
                done[k] += 1  # only answered calls count
            except grpc.RpcError:
                pass
            i += threads

    workers = [threading.Thread(target=caller, args=(k,)) for k in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    rate = share * sum(done) / (time.monotonic() - start)  # the last calls end after stop
    assert rate >= MIN_RATE, f"the server completes {rate / share:.0f} Decide/s: too slow to test"
    return min(ceiling, rate)
