"""Model reload: validation, atomic swap under load, SIGHUP, admin RPC and its auth.

Versions are cheap clones of the session's trained ``test-v1`` (same ONNX files, other
manifest version), so every test gets its own throwaway ``models/`` directory.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest

from modelio.manifest import load_manifest, set_current, sha256_file, write_manifest
from modelio.vocab import FEATURE_SERVICE
from personalization.v1 import admin_pb2 as admin_pb
from personalization.v1 import admin_pb2_grpc as admin_grpc
from personalization.v1 import personalization_pb2 as pb
from server.app import install_signal_handlers
from server.engine.decide import DecisionEngine
from server.errors import InvalidRequestError, ModelLoadError
from server.features.base import CustomerFeatures, ServiceSpec, ViewSpec
from server.features.feast_reader import FeastFeatureReader
from server.models.reload import ModelReloader, ReloadOnEvent
from server.models.runner import ModelRunner
from server.security.keys import KeyRecord, generate_key, hash_key, write_key_file
from server.security.policy import ADMIN, DECIDE
from tests.support.engines import ScriptedReader, turn
from tests.support.feast import FeastFixture
from tests.support.servers import Running, make_request

Code = grpc.StatusCode


# --- model versions ------------------------------------------------------------------


def clone(models: Path, source: Path, version: str, **update: Any) -> Path:
    """Copy ``source`` to ``models/version`` with the manifest's version (and ``update``)."""
    target = models / version
    shutil.copytree(source, target)
    manifest = load_manifest(target)
    write_manifest(target, manifest.model_copy(update={"version": version, **update}))
    return target


def edit_manifest(version_dir: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = version_dir / "manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def flip_byte(path: Path) -> None:
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))


def garbage_rehashed(version_dir: Path) -> None:
    """An nba.onnx that is not ONNX, with a manifest sha256 that matches it."""
    (version_dir / "nba.onnx").write_bytes(b"not an onnx model")
    digest = sha256_file(version_dir / "nba.onnx")
    edit_manifest(version_dir, lambda m: m["models"]["nba"].update(sha256=digest))


def _wrong_input(m: dict[str, Any]) -> None:
    m["models"]["escalation"]["inputs"][0] = "bogus_input"


@pytest.fixture
def models(model_dir: Path, tmp_path: Path) -> Path:
    """``v1`` (current), ``v2`` and broken versions, each a clone of ``test-v1``."""
    root = tmp_path / "models"
    root.mkdir()
    source = model_dir / "test-v1"
    clone(root, source, "v1")
    clone(root, source, "v2")
    flip_byte(clone(root, source, "bad-sha") / "escalation.onnx")
    edit_manifest(clone(root, source, "bad-inputs"), _wrong_input)
    clone(root, source, "bad-service", feature_service="another_service")
    garbage_rehashed(clone(root, source, "bad-onnx"))
    set_current(root, "v1")
    return root


def scripted_engine(models: Path, reader: Any = None) -> DecisionEngine:
    return DecisionEngine(ModelRunner.load(models), reader or ScriptedReader({}))


# --- validation ------------------------------------------------------------------------

REFUSED = [
    ("bad-sha", r"bad-sha/escalation\.onnx: sha256 [0-9a-f]{12}… does not match"),
    ("bad-inputs", r"models\.escalation\.inputs do not match this code's escalation inputs"),
    ("bad-service", r"trained on feature service 'another_service', but the server reads"),
    ("bad-onnx", r"bad-onnx/nba\.onnx: cannot load the nba model"),
    ("missing", r"missing/manifest\.json: no manifest"),
]


@pytest.mark.parametrize(("version", "reason"), REFUSED, ids=[v for v, _ in REFUSED])
def test_bad_versions_are_refused_and_the_old_one_keeps_serving(
    models: Path, version: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = scripted_engine(models)
    before = engine.bundle
    with (
        caplog.at_level(logging.INFO, "server.models.reload"),
        pytest.raises(ModelLoadError, match=reason),
    ):
        ModelReloader(engine, models).reload(version)
    assert engine.bundle is before and engine.decide(turn()).model_version == "v1"
    (record,) = [r for r in caplog.records if r.name == "server.models.reload"]
    assert record.levelname == "WARNING" and record.getMessage().startswith("model reload refused")
    assert record.__dict__["requested"] == version
    assert re.search(reason, record.__dict__["reason"])


@pytest.mark.parametrize("name", ["../v1", ".hidden", "a/b", "x" * 200])
def test_malformed_version_names_are_invalid_arguments(models: Path, name: str) -> None:
    engine = scripted_engine(models)
    with pytest.raises(InvalidRequestError) as info:
        ModelReloader(engine, models).reload(name)
    assert info.value.field == "version" and engine.model_version == "v1"


def test_reader_must_serve_every_raw_feature(models: Path) -> None:
    class PartialReader(ScriptedReader):
        spec = ServiceSpec(
            FEATURE_SERVICE,
            "customer_id",
            (ViewSpec("customer_profile_fv", ("plan_tier",), None, "customer_profile_fv", "p"),),
        )

    engine = scripted_engine(models, PartialReader({}))
    with pytest.raises(ModelLoadError, match=r"does not serve \[.*'monthly_spend'"):
        ModelReloader(engine, models).reload("v2")
    assert engine.model_version == "v1"


def test_good_version_swaps_and_empty_means_current(
    models: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = scripted_engine(models)
    reloader = ModelReloader(engine, models)
    with caplog.at_level(logging.INFO, "server.models.reload"):
        result = reloader.reload("v2")
    assert (result.previous_version, result.loaded_version) == ("v1", "v2")
    assert result.message.startswith("reloaded models: v1 -> v2")
    assert caplog.records[-1].getMessage() == result.message
    assert engine.decide(turn()).model_version == engine.model_version == "v2"
    assert reloader.reload("").loaded_version == "v1"  # models/current still says v1


def test_concurrent_reloads_are_serialized(models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import server.models.reload as reload_module

    real, active, peak = reload_module.load_bundle, [0], [0]

    def tracked(*args: Any) -> Any:
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        try:
            time.sleep(0.05)
            return real(*args)
        finally:
            active[0] -= 1

    monkeypatch.setattr(reload_module, "load_bundle", tracked)
    engine = scripted_engine(models)
    reloader = ModelReloader(engine, models)
    threads = [
        threading.Thread(target=reloader.reload, args=(v,)) for v in ("v2", "v1", "v2", "v1")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert peak[0] == 1 and engine.model_version in {"v1", "v2"}


class GatedReader(ScriptedReader):
    """Blocks every read until ``gate`` opens, so a batch can be caught mid-flight."""

    def __init__(self) -> None:
        super().__init__({})
        self.entered = threading.Event()
        self.gate = threading.Event()

    def read(self, customer_ids: Sequence[str]) -> list[CustomerFeatures]:
        self.entered.set()
        assert self.gate.wait(10), "test never opened the gate"
        return super().read(customer_ids)


def test_in_flight_batch_finishes_on_the_version_it_started_with(models: Path) -> None:
    reader = GatedReader()
    engine = scripted_engine(models, reader)
    answers: list[str] = []
    batch = threading.Thread(
        target=lambda: answers.extend(
            d.model_version for d in engine.decide_batch([turn("C1", "a"), turn("C2", "b")])
        )
    )
    batch.start()
    assert reader.entered.wait(10)  # the batch holds v1 and waits in the reader
    assert ModelReloader(engine, models).reload("v2").loaded_version == "v2"
    reader.gate.set()
    batch.join(10)
    assert answers == ["v1", "v1"]
    assert engine.decide(turn()).model_version == "v2"


# --- SIGHUP --------------------------------------------------------------------------


def test_sighup_reloads_models_current(models: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = scripted_engine(models)
    stop, hangup = threading.Event(), threading.Event()
    restore = install_signal_handlers(stop, hangup)
    worker = ReloadOnEvent(ModelReloader(engine, models), hangup)
    worker.start()

    def hup_and_wait(attempts: int) -> None:
        os.kill(os.getpid(), signal.SIGHUP)
        deadline = time.monotonic() + 20
        while worker.attempts < attempts:
            assert time.monotonic() < deadline, "SIGHUP reload never finished"
            time.sleep(0.01)

    try:
        set_current(models, "v2")
        hup_and_wait(1)
        assert engine.model_version == "v2" and not stop.is_set()
        set_current(models, "bad-sha")
        with caplog.at_level(logging.INFO, "server.models.reload"):
            hup_and_wait(2)
        assert engine.model_version == "v2"  # refused: the old version keeps serving
        assert "sha256" in caplog.records[-1].__dict__["reason"]
    finally:
        worker.stop()
        restore()


# --- over gRPC -----------------------------------------------------------------------


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
    decide, admin = generate_key(), generate_key()
    keys = tmp_path / "keys.json"
    write_key_file(
        keys,
        [
            KeyRecord("bot", hash_key(decide), frozenset({DECIDE})),
            KeyRecord("ops", hash_key(admin), frozenset({ADMIN})),
        ],
    )
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
