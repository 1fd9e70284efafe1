"""``python -m server`` as a real process: after SIGTERM the decision and outcome logs
hold exactly the acknowledged records; after SIGKILL it lost at most the last flush
interval."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from bench.procs import Child, base_env, python_module
from modelio.logrecords import DECISIONS, OUTCOMES, read_log
from personalization.v1 import personalization_pb2 as pb
from personalization.v1 import personalization_pb2_grpc as pb_grpc
from server.healthcheck import check
from tests.support.feast import FeastFixture
from tests.support.servers import make_request

ROOT = Path(__file__).resolve().parents[3]


def _port(child: Child) -> int:
    """The port the server logged in its "server started" line (it was started on 0)."""
    found: list[int] = []

    def started() -> bool:
        for line in child.log_tail(1_000_000).splitlines():
            if '"server started"' in line:
                found.append(int(json.loads(line)["port"]))
                return True
        return False

    child.wait_until(started, 120, "server started")
    return found[0]


@dataclass
class Servers:
    """``run(**env)`` starts a server writing its decision log to ``log_dir``."""

    log_dir: Path
    run: Callable[..., tuple[Child, str]]
    children: list[Child] = field(default_factory=list)


@pytest.fixture
def start(engine_feast_repo: FeastFixture, model_dir: Path, tmp_path: Path) -> Iterator[Servers]:
    children: list[Child] = []

    def run(**env: str) -> tuple[Child, str]:
        settings = {
            "PERSONALIZATION_HOST": "127.0.0.1",
            "PERSONALIZATION_PORT": "0",
            "PERSONALIZATION_FEATURE_REPO": str(engine_feast_repo.repo),
            "PERSONALIZATION_MODELS_DIR": str(model_dir),
            "PERSONALIZATION_DECISION_LOG": "file",
            "PERSONALIZATION_DECISION_LOG_DIR": str(tmp_path / "dlog"),
            "PERSONALIZATION_GRACE_PERIOD_S": "10",
            "PERSONALIZATION_THREAD_POOL_SIZE": "8",
            **env,
        }
        child = Child(
            "server", python_module("server"), tmp_path / "server.log", base_env(**settings)
        )
        children.append(child)
        target = f"127.0.0.1:{_port(child)}"
        child.wait_until(lambda: check(target, timeout_s=1.0), 60, "SERVING")
        return child, target

    yield Servers(tmp_path / "dlog", run, children)
    for child in children:
        if child.alive():
            child.proc.kill()
            child.proc.wait(10)
        child.stop()


def _logged(log_dir: Path) -> list[str]:
    return read_log(log_dir, DECISIONS).column("decision_id").to_pylist()


@pytest.mark.timeout(240)
def test_sigterm_writes_exactly_the_acknowledged_decisions(
    start: Servers, engine_feast_repo: FeastFixture
) -> None:
    child, target = start.run(PERSONALIZATION_DECISION_LOG_FLUSH_S="60")
    acked: list[str] = []
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.PersonalizationServiceStub(channel)
        for i, cid in enumerate(engine_feast_repo.known_ids[:30]):
            acked.append(
                stub.Decide(make_request(cid if i % 3 else f"anon-{i}"), timeout=20).decision_id
            )
        batch = pb.DecideBatchRequest(
            requests=[make_request(c) for c in engine_feast_repo.known_ids[:10]]
        )
        acked.extend(r.decision_id for r in stub.DecideBatch(batch, timeout=20).responses)
        now = Timestamp()
        now.GetCurrentTime()
        outcomes = [*acked[::2], "never-issued"]  # an unknown id is kept too (unmatched)
        for decision_id in outcomes:
            request = pb.RecordOutcomeRequest(decision_id=decision_id, resolved=True)
            request.event_time.CopyFrom(now)
            assert stub.RecordOutcome(request, timeout=20).recorded
    log_dir = start.log_dir
    assert _logged(log_dir) == []  # flush_s is 60: only the shutdown writes
    child.proc.send_signal(signal.SIGTERM)
    assert child.proc.wait(60) == 0, child.log_tail()
    logged = _logged(log_dir)
    assert len(logged) == len(set(logged)) == 40
    assert set(logged) == set(acked)
    recorded = read_log(log_dir, OUTCOMES).column("decision_id").to_pylist()
    assert sorted(recorded) == sorted(outcomes)


@pytest.mark.timeout(240)
def test_sigkill_loses_at_most_the_last_flush_interval(
    start: Servers, engine_feast_repo: FeastFixture
) -> None:
    flush_s = 0.2
    child, target = start.run(PERSONALIZATION_DECISION_LOG_FLUSH_S=str(flush_s))
    acked: list[tuple[float, str]] = []
    lock, stop = threading.Lock(), threading.Event()
    customers = engine_feast_repo.known_ids[:50]

    def client(worker: int) -> None:
        with grpc.insecure_channel(target) as channel:
            stub = pb_grpc.PersonalizationServiceStub(channel)
            i = 0
            while not stop.is_set():
                try:
                    reply = stub.Decide(make_request(customers[(worker + i) % 50]), timeout=20)
                except grpc.RpcError:
                    return  # killed
                with lock:
                    acked.append((time.monotonic(), reply.decision_id))
                i += 1

    threads = [threading.Thread(target=client, args=(w,), daemon=True) for w in range(4)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(acked) < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        mark = time.monotonic()
        # Every decision acknowledged before the mark must be written by the time of the
        # kill: ten flush intervals later (the writer writes at least every interval).
        time.sleep(10 * flush_s)
        child.proc.kill()
        child.proc.wait(10)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    with lock:
        before = {d for t, d in acked if t < mark}
        total = len(acked)
    assert len(before) >= 50
    logged = set(_logged(start.log_dir))  # every file is whole
    assert before <= logged
    print(f"\nSIGKILL: {len(before)} acked before the mark, {total} in all, {len(logged)} logged")
