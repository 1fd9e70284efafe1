"""Model reload over gRPC: the admin RPC swaps versions under load without a failed call,
needs the admin role, and is absent for engines that cannot reload."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest

from modelio.vocab import FEATURE_SERVICE
from personalization.v1 import admin_pb2 as admin_pb
from personalization.v1 import admin_pb2_grpc as admin_grpc
from personalization.v1 import personalization_pb2 as pb
from server.engine.decide import DecisionEngine
from server.features.feast_reader import FeastFeatureReader
from server.models.runner import ModelRunner
from tests.support.api_keys import decide_and_admin_keys
from tests.support.engines import scripted_engine
from tests.support.feast import FeastFixture
from tests.support.servers import Code, Running, make_request


@pytest.fixture
def serve(start_server: Callable[..., Running]) -> Iterator[Callable[..., Running]]:
    """Factory: ``serve(engine, **settings_overrides)`` -> a started server on loopback
    (conftest's ``start_server``); also closes the real engines afterwards."""
    engines: list[Any] = []

    def start(engine: Any, **overrides: Any) -> Running:
        engines.append(engine)
        return start_server(engine, **overrides)

    yield start
    for engine in engines:
        engine.close()


def _admin(run: Running) -> admin_grpc.AdminServiceStub:
    return admin_grpc.AdminServiceStub(run.channel)


def _reload(run: Running, version: str, **kwargs: Any) -> admin_pb.ReloadModelsResponse:
    request = admin_pb.ReloadModelsRequest(version=version)
    return _admin(run).ReloadModels(request, timeout=30, **kwargs)


class Load:
    """A few threads calling Decide / DecideBatch until stopped (bounded by a deadline)."""

    def __init__(self, run: Running, customers: Sequence[str], threads: int = 3) -> None:
        self._run = run
        self._customers = customers
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.calls: list[tuple[float, float, tuple[str, ...]]] = []  # start, end, versions
        self.errors: list[str] = []
        self._threads = [threading.Thread(target=self._loop, args=(i,)) for i in range(threads)]

    def _loop(self, worker: int) -> None:
        deadline = time.monotonic() + 30  # bounded even if the test body hangs
        i = worker
        while not self._stop.is_set() and time.monotonic() < deadline:
            ids = [self._customers[(i + k) % len(self._customers)] for k in range(4)]
            start = time.monotonic()
            try:
                if worker == 0:
                    batch = pb.DecideBatchRequest(requests=[make_request(c) for c in ids])
                    reply = self._run.stub.DecideBatch(batch, timeout=10)
                    versions = tuple(r.model_version for r in reply.responses)
                else:
                    one = self._run.stub.Decide(make_request(ids[0]), timeout=10)
                    versions = (one.model_version,)
            except grpc.RpcError as exc:
                with self._lock:
                    self.errors.append(f"{exc.code().name}: {exc.details()}")
                continue
            finally:
                i += 1
            with self._lock:
                self.calls.append((start, time.monotonic(), versions))

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(15)

    def count(self) -> int:
        with self._lock:
            return len(self.calls)


def _hold(load: Load, seconds: float, at_least: int = 20) -> None:
    """Let the load run ``seconds`` and at least ``at_least`` more calls (bounded)."""
    target, until = load.count() + at_least, time.monotonic() + seconds
    deadline = until + 15
    while time.monotonic() < until or load.count() < target:
        assert time.monotonic() < deadline, "load stalled"
        time.sleep(0.02)


def test_reload_under_load(
    models: Path, engine_feast_repo: FeastFixture, serve: Callable[..., Running]
) -> None:
    reader = FeastFeatureReader(engine_feast_repo.store("sqlite"), FEATURE_SERVICE)
    run = serve(DecisionEngine(ModelRunner.load(models), reader), models_dir=models)
    run.wait_health("SERVING")
    customers = [*engine_feast_repo.known_ids[:40], "nobody"]
    with Load(run, customers) as load:
        _hold(load, 0.8)
        for version, reason in [
            ("bad-sha", "escalation.onnx: sha256"),
            ("bad-inputs", "inputs do not match"),
        ]:
            with pytest.raises(grpc.RpcError) as info:
                _reload(run, version)
            assert info.value.code() == Code.FAILED_PRECONDITION
            assert reason in info.value.details() and version in info.value.details()
            _hold(load, 0.6)
        sent = time.monotonic()
        reply = _reload(run, "v2")
        done = time.monotonic()
        _hold(load, 1.2)
    assert (reply.previous_version, reply.loaded_version) == ("v1", "v2")
    assert load.errors == []
    before = {v for start, end, vs in load.calls if end < sent for v in vs}
    after = {v for start, end, vs in load.calls if start > done for v in vs}
    assert before == {"v1"} and after == {"v2"}
    assert all(len(set(vs)) == 1 for _, _, vs in load.calls)  # a batch never mixes


def test_admin_rpc_needs_the_admin_role(
    models: Path, tmp_path: Path, serve: Callable[..., Running]
) -> None:
    pair = decide_and_admin_keys(tmp_path / "keys.json")
    keys, decide, admin = pair.path, pair.decide, pair.admin
    run = serve(scripted_engine(models), models_dir=models, api_keys_file=keys)

    def bearer(key: str) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {key}")]

    for metadata, code in [(None, Code.UNAUTHENTICATED), (bearer(decide), Code.PERMISSION_DENIED)]:
        with pytest.raises(grpc.RpcError) as info:
            _reload(run, "v2", metadata=metadata)
        assert info.value.code() == code
    assert run.engine.model_version == "v1"
    assert _reload(run, "v2", metadata=bearer(admin)).loaded_version == "v2"
    with pytest.raises(grpc.RpcError) as info:
        _reload(run, "../etc", metadata=bearer(admin))
    assert info.value.code() == Code.INVALID_ARGUMENT and "version" in info.value.details()


def test_engines_that_cannot_reload_have_no_admin_service(running: Running) -> None:
    with pytest.raises(grpc.RpcError) as info:
        _reload(running, "")
    assert info.value.code() == Code.UNIMPLEMENTED
