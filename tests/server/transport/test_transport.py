"""End-to-end transport tests: a real server on 127.0.0.1 around a FakeEngine."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from concurrent.futures import Future

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from personalization.v1 import personalization_pb2 as pb
from server.errors import (
    FeatureStoreError,
    ModelLoadError,
    NotReadyError,
    OverloadedError,
)
from server.transport.convert import decision_request_from_proto
from server.transport.convert_decision import decision_to_proto
from tests.support.servers import FakeEngine, Running, fake_decision, make_request

SERVICE = "personalization.v1.PersonalizationService"


def _rpc_error(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


def test_decide_round_trip(running: Running) -> None:
    request = make_request("C000123")
    response = running.stub.Decide(request, timeout=5)
    domain = decision_request_from_proto(request, max_customer_id_length=128)
    assert response == decision_to_proto(fake_decision(domain))
    assert response.request_id == "req-1"
    assert list(response.degraded_reasons) == ["Europe/Paris", "2024-05-06T14:30:15.250000+00:00"]
    assert response.next_best_action.alternatives  # nested repeated messages survive the wire


def test_batch_equals_singles_in_order(running: Running) -> None:
    requests = [
        make_request(f"cust-{'x' * i}", sentiment=i / 10 - 0.5, turn_index=i + 1) for i in range(6)
    ]
    batch = running.stub.DecideBatch(pb.DecideBatchRequest(requests=requests), timeout=5)
    singles = [running.stub.Decide(r, timeout=5) for r in requests]
    assert list(batch.responses) == singles
    assert [r.decision_id for r in batch.responses] == [
        f"d-{r.customer_id}-{i + 1}" for i, r in enumerate(requests)
    ]
    assert running.engine.batch_calls == 1


def test_empty_batch_is_fine(running: Running) -> None:
    assert running.stub.DecideBatch(pb.DecideBatchRequest(), timeout=5).responses == []


@pytest.mark.parametrize(
    ("request_msg", "details"),
    [
        (make_request(""), "customer_id: must not be empty"),
        (make_request("x" * 129), "customer_id: must be at most 128 characters, got 129"),
        (
            make_request(channel=0),
            "context.channel: is required (CHANNEL_UNSPECIFIED is not allowed)",
        ),
        (make_request(channel=99), "context.channel: unknown Channel value 99"),
        (make_request(sentiment=1.5), "context.sentiment: must be within [-1, 1], got 1.5"),
        (make_request(sentiment=math.nan), "context.sentiment: must be a finite number, got nan"),
        (
            make_request(time_zone="Mars/Olympus"),
            "context.time_zone: unknown IANA time zone 'Mars/Olympus'",
        ),
    ],
)
def test_decide_invalid_argument(
    running: Running, request_msg: pb.DecideRequest, details: str
) -> None:
    err = _rpc_error(lambda: running.stub.Decide(request_msg, timeout=5))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == details


def test_batch_over_limit(start_server: Callable[..., Running]) -> None:
    run = start_server(max_batch_size=2)
    batch = pb.DecideBatchRequest(requests=[make_request() for _ in range(3)])
    err = _rpc_error(lambda: run.stub.DecideBatch(batch, timeout=5))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == "requests: at most 2 requests per batch, got 3"


def test_batch_item_error_names_index(running: Running) -> None:
    items = [make_request(), make_request(), make_request(), make_request(sentiment=3.0)]
    err = _rpc_error(
        lambda: running.stub.DecideBatch(pb.DecideBatchRequest(requests=items), timeout=5)
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == "requests[3].context.sentiment: must be within [-1, 1], got 3.0"
    assert running.engine.batch_calls == 0


@pytest.mark.parametrize(
    ("error", "code", "details"),
    [
        (FeatureStoreError("redis down"), grpc.StatusCode.UNAVAILABLE, "redis down"),
        (NotReadyError(), grpc.StatusCode.UNAVAILABLE, "server not ready; retry later"),
        (
            ModelLoadError("manifest mismatch"),
            grpc.StatusCode.FAILED_PRECONDITION,
            "manifest mismatch",
        ),
        (
            OverloadedError(),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "server overloaded; retry with backoff",
        ),
    ],
)
def test_domain_errors_map_to_status(
    start_server: Callable[..., Running], error: Exception, code: grpc.StatusCode, details: str
) -> None:
    run = start_server(FakeEngine(error=error))
    err = _rpc_error(lambda: run.stub.Decide(make_request(), timeout=5))
    assert (err.code(), err.details()) == (code, details)


def test_unexpected_error_is_internal_logged_and_server_survives(
    start_server: Callable[..., Running], caplog: pytest.LogCaptureFixture
) -> None:
    engine = FakeEngine(error=ZeroDivisionError("boom"))
    run = start_server(engine)
    with caplog.at_level(logging.INFO):
        err = _rpc_error(lambda: run.stub.Decide(make_request(), timeout=5))
    assert err.code() == grpc.StatusCode.INTERNAL
    assert err.details().startswith("internal error (incident ")
    assert "boom" not in err.details()  # internals stay in the log
    incident = err.details().removeprefix("internal error (incident ").rstrip(")")
    [record] = [r for r in caplog.records if getattr(r, "incident", None) == incident]
    assert record.exc_info is not None and record.exc_info[0] is ZeroDivisionError
    access = [r for r in caplog.records if r.getMessage() == "rpc finished"]
    assert access and vars(access[-1])["status"] == "INTERNAL"

    engine.error = None
    assert run.stub.Decide(make_request(), timeout=5).decision_id


@pytest.mark.parametrize("access_log", [True, False])
def test_access_log_has_ids_and_no_payload(
    start_server: Callable[..., Running], caplog: pytest.LogCaptureFixture, access_log: bool
) -> None:
    run = start_server(FakeEngine(), access_log=access_log)
    with caplog.at_level(logging.INFO):
        run.stub.Decide(make_request("secret-customer-42"), timeout=5)
        _rpc_error(lambda: run.stub.Decide(make_request(sentiment=2.0), timeout=5))
    access = [r for r in caplog.records if r.getMessage() == "rpc finished"]
    fields = [vars(r) for r in access]
    ok = [(f"/{SERVICE}/Decide", "OK", "req-1")] if access_log else []
    # Failures are always logged; successes only with access_log (else at DEBUG).
    assert [(f["rpc"], f["status"], f["request_id"]) for f in fields] == [
        *ok,
        (f"/{SERVICE}/Decide", "INVALID_ARGUMENT", "req-1"),
    ]
    assert all(f["duration_ms"] >= 0 for f in fields)
    assert "secret-customer-42" not in caplog.text


def test_health_follows_engine_readiness(start_server: Callable[..., Running]) -> None:
    run = start_server(FakeEngine(is_ready=False))
    run.wait_health("NOT_SERVING")
    assert run.health_status(SERVICE) == "NOT_SERVING"
    err = _rpc_error(lambda: run.stub.Decide(make_request(), timeout=5))
    assert err.code() == grpc.StatusCode.UNAVAILABLE

    run.engine.is_ready = True
    run.wait_health("SERVING")
    run.wait_health("SERVING", SERVICE)
    assert run.stub.Decide(make_request(), timeout=5).decision_id


def test_reflection_lists_services(running: Running) -> None:
    services = ProtoReflectionDescriptorDatabase(running.channel).get_services()
    assert SERVICE in services
    assert "grpc.health.v1.Health" in services


def test_concurrency_cap_answers_resource_exhausted(start_server: Callable[..., Running]) -> None:
    engine = FakeEngine(gate=threading.Event())
    run = start_server(engine, max_concurrent_rpcs=2)
    in_flight = [run.stub.Decide.future(make_request(), timeout=10) for _ in range(2)]
    for _ in in_flight:
        assert engine.entered.acquire(timeout=5)

    err = _rpc_error(lambda: run.stub.Decide(make_request(), timeout=5))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "more than 2 RPCs in flight" in err.details()
    assert run.health_status() == "SERVING"  # probes are not counted

    engine.gate.set()  # type: ignore[union-attr]
    assert all(f.result(timeout=5).decision_id for f in in_flight)
    assert run.stub.Decide(make_request(), timeout=5).decision_id  # slots were given back


def test_stop_drains_in_flight_and_refuses_new(start_server: Callable[..., Running]) -> None:
    engine = FakeEngine(gate=threading.Event())
    run = start_server(engine)
    run.wait_health("SERVING")
    in_flight: Future = run.stub.Decide.future(make_request(), timeout=10)
    assert engine.entered.acquire(timeout=5)

    # What serve()'s SIGTERM path does first; shutdown() then waits on `stopped`.
    stopped = run.server.stop(5.0)
    with grpc.insecure_channel(run.target) as fresh:
        stub = type(run.stub)(fresh)
        err = _rpc_error(lambda: stub.Decide(make_request(), timeout=2))
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    assert not stopped.is_set()  # still draining the in-flight call

    engine.gate.set()  # type: ignore[union-attr]
    assert in_flight.result(timeout=5).decision_id
    assert stopped.wait(5)


def test_cancelled_queued_call_gives_its_slot_back(start_server: Callable[..., Running]) -> None:
    engine = FakeEngine(gate=threading.Event())
    run = start_server(engine, max_concurrent_rpcs=3, thread_pool_size=1)
    first = run.stub.Decide.future(make_request(), timeout=10)
    assert engine.entered.acquire(timeout=5)
    queued = run.stub.Decide.future(make_request(), timeout=10)  # holds a slot, no thread yet
    queued.cancel()
    engine.gate.set()  # type: ignore[union-attr]
    assert first.result(timeout=5).decision_id

    # The cancelled call never reached a handler; its slot must still come back, so
    # three calls fit again (a leaked slot would make the third RESOURCE_EXHAUSTED).
    engine.gate.clear()  # type: ignore[union-attr]
    held = run.stub.Decide.future(make_request(), timeout=10)
    assert engine.entered.acquire(timeout=5)  # the single thread got past the cancelled call
    waiting = [run.stub.Decide.future(make_request(), timeout=10) for _ in range(2)]
    engine.gate.set()  # type: ignore[union-attr]
    assert [f.result(timeout=5).decision_id for f in [held, *waiting]]
