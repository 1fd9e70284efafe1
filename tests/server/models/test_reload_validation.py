"""Model reload in process: bad versions refused (the old one keeps serving), good ones
swapped atomically, concurrent reloads serialized, in-flight batches kept on their version,
and SIGHUP.

Versions are cheap clones of the session's trained ``test-v1`` (same ONNX files, other
manifest version), so every test gets its own throwaway ``models/`` directory
(this folder's conftest)."""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from modelio.manifest import set_current
from modelio.vocab import FEATURE_SERVICE
from server.errors import InvalidRequestError, ModelLoadError
from server.features.base import CustomerFeatures, ServiceSpec, ViewSpec
from server.models.on_signal import ReloadOnEvent
from server.models.reload import ModelReloader
from server.running import install_signal_handlers
from tests.support.engines import ScriptedReader, scripted_engine, turn

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
