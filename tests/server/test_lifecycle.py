"""serve()/shutdown signals, the error table, and the command-line entry points."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from server import app
from server import errors as domain
from server.__main__ import parse_settings
from server.client import age_text
from server.client import main as client_main
from server.engine.protocol import Engine
from server.healthcheck import main as healthcheck_main
from server.logging_setup import JsonFormatter
from server.settings import Settings
from server.transport.errors import abort_if_expired, status_for
from tests.support.servers import FakeEngine, Running, test_settings


def test_every_domain_error_has_a_status() -> None:
    assert (
        status_for(domain.BatchTooLargeError("requests", "x")) == grpc.StatusCode.INVALID_ARGUMENT
    )
    assert status_for(domain.ModelLoadError()) == grpc.StatusCode.FAILED_PRECONDITION
    for cls in (domain.OverloadedError, domain.NotReadyError, domain.FeatureStoreError):
        assert status_for(cls()) is not None
    assert status_for(KeyError("x")) is None


class _Context:
    """Just enough of grpc.ServicerContext for abort_if_expired."""

    def __init__(self, remaining: float | None, active: bool = True) -> None:
        self.remaining, self.active, self.aborted = remaining, active, None

    def time_remaining(self) -> float | None:
        return self.remaining

    def is_active(self) -> bool:
        return self.active

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.aborted = code
        raise RuntimeError(details)


@pytest.mark.parametrize(
    ("remaining", "active", "expected"),
    [
        (None, True, None),
        (1.0, True, None),
        (0.0, True, grpc.StatusCode.DEADLINE_EXCEEDED),
        (5.0, False, grpc.StatusCode.CANCELLED),
    ],
)
def test_abort_if_expired(remaining: float | None, active: bool, expected: Any) -> None:
    ctx = _Context(remaining, active)
    if expected is None:
        abort_if_expired(ctx)  # type: ignore[arg-type]
    else:
        with pytest.raises(RuntimeError):
            abort_if_expired(ctx)  # type: ignore[arg-type]
    assert ctx.aborted == expected


def test_signal_handlers_set_event_and_restore() -> None:
    before = signal.getsignal(signal.SIGTERM)
    stop = threading.Event()
    restore = app.install_signal_handlers(stop)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
    finally:
        restore()
    assert signal.getsignal(signal.SIGTERM) is before


def test_serve_runs_until_sigterm_then_drains(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = FakeEngine()
    bound: list[int] = []
    real_create_server = app.create_server

    def recording_create_server(
        settings: Settings, given: Engine | None = None, **kwargs: Any
    ) -> tuple[grpc.Server, int]:
        assert given is engine  # serve passes its engine through
        server, port = real_create_server(settings, given, **kwargs)
        bound.append(port)
        return server, port

    def send_sigterm_when_serving() -> None:
        from server.healthcheck import check

        for _ in range(500):
            if bound and check(f"127.0.0.1:{bound[0]}", timeout_s=0.5):
                break
            threading.Event().wait(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(app, "create_server", recording_create_server)
    monkeypatch.setattr(app, "configure_logging", lambda *a: None)  # keep pytest's handlers
    threading.Thread(target=send_sigterm_when_serving, daemon=True).start()
    app.serve(test_settings(), engine)  # returns only after SIGTERM and the drain
    assert engine.closed


def test_cli_flags_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERSONALIZATION_PORT", "6000")
    monkeypatch.setenv("PERSONALIZATION_ONLINE_STORE", "redis_cluster")
    monkeypatch.setenv("PERSONALIZATION_LOG_LEVEL", "debug")
    settings = parse_settings(["--port", "7000", "--host", "127.0.0.1"])
    assert (settings.port, settings.host) == (7000, "127.0.0.1")
    assert (settings.online_store, settings.log_level) == ("redis_cluster", "DEBUG")


def test_settings_validate_redis_addresses() -> None:
    assert Settings(redis="a:1,b:2").redis_nodes() == [("a", 1), ("b", 2)]
    with pytest.raises(ValueError, match="host:port"):
        Settings(redis="localhost")
    # Feast's parser keeps the space: its client would look for the host " b".
    with pytest.raises(ValueError, match="leading or trailing spaces"):
        Settings(redis="a:1, b:2")


def test_healthcheck_exit_code(start_server: Callable[..., Running]) -> None:
    run = start_server(FakeEngine(is_ready=False))
    run.wait_health("NOT_SERVING")
    assert healthcheck_main(["--target", run.target]) == 1
    run.engine.is_ready = True
    run.wait_health("SERVING")
    assert healthcheck_main(["--target", run.target]) == 0
    assert healthcheck_main(["--target", "127.0.0.1:1", "--timeout", "0.2"]) == 1


def test_client_prints_decision(running: Running, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--target", running.target, "--customer-id", "C42", "--sentiment", "-0.3"]
    assert client_main([*base, "--time-zone", "Europe/Paris", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["decision_id"] == "d-C42-1" and out["model_version"] == "fake-1"
    assert client_main(base) == 0
    text = capsys.readouterr().out
    assert "next action" in text and "feature age    12.5 s\n" in text + "\n"
    assert client_main([*base, "--sentiment", "4"]) == 1
    assert "INVALID_ARGUMENT" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.04, "0.0 s"),
        (59.9, "59.9 s"),
        (200, "3 min 20 s"),
        (40_998, "11 h 23 min"),
        (187_200, "2 d 4 h"),
    ],
)
def test_client_prints_feature_age_as_a_duration(seconds: float, text: str) -> None:
    assert age_text(seconds) == text


def test_json_log_lines_carry_extras_and_tracebacks() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", ("rpc",), None)
        record.exc_info = sys.exc_info()
    record.request_id = "r-1"
    line = json.loads(JsonFormatter().format(record))
    assert (line["msg"], line["level"], line["request_id"]) == ("failed rpc", "ERROR", "r-1")
    assert "ValueError: bad" in line["exc"]


def test_serve_exits_non_zero_when_the_engine_cannot_load(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_create_server(
        settings: Settings, engine: Engine | None = None
    ) -> tuple[grpc.Server, int]:
        raise domain.ModelLoadError("models/current: no current model version")

    monkeypatch.setattr(app, "create_server", failing_create_server)
    monkeypatch.setattr(app, "configure_logging", lambda *a: None)
    with pytest.raises(SystemExit) as info:
        app.serve(test_settings())
    assert info.value.code == 1
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or callable(
        signal.getsignal(signal.SIGTERM)
    )


def test_busy_port_is_an_error_not_a_shared_port(running: Running) -> None:
    # gRPC defaults to SO_REUSEPORT; a second server must not silently share the port.
    with pytest.raises(RuntimeError, match="Failed to bind"):
        app.create_server(test_settings(port=running.port), engine=FakeEngine())


def test_client_sends_the_conversation_and_prints_realtime_state() -> None:
    from google.protobuf.duration_pb2 import Duration

    from personalization.v1 import personalization_pb2 as pb
    from server.client import _parser, build_request, format_response

    args = _parser().parse_args(["--customer-id", "C42", "--conversation-id", "conv-7"])
    assert build_request(args).conversation_id == "conv-7"
    assert build_request(_parser().parse_args(["--customer-id", "C42"])).conversation_id == ""
    fresh = pb.DecideResponse(realtime_age=Duration(seconds=3))
    assert "realtime age   3.0 s" in format_response(fresh)
    missing = pb.DecideResponse(realtime_fallback_reasons=["no_conversation_state"])
    text = format_response(missing)
    assert "fell back to the batch profile: ['no_conversation_state']" in text
    assert "realtime age" not in text
