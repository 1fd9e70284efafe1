"""API-key authentication and role checks over plaintext, TLS and mutual TLS: the matrix of
keys and roles, malformed headers, health and reflection, the role table, the principal
downstream, and what is (never) logged."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from personalization.v1 import personalization_pb2 as pb
from personalization.v1 import personalization_pb2_grpc as pb_grpc
from server.engine.types import Decision, DecisionRequest
from server.logging_setup import JsonFormatter
from server.security.keys import generate_key
from server.security.policy import ADMIN, DECIDE, AccessPolicy
from server.security.principal import current_principal
from tests.support.api_keys import Keys, _bearer, _code
from tests.support.servers import Code, FakeEngine, Running, make_request
from tests.support.tls_certs import Pki


def _tls_overrides(mode: str, pki: Pki) -> dict[str, Any]:
    if mode == "insecure":
        return {}
    extra = {"tls_client_ca_file": pki.ca} if mode == "mtls" else {}
    return {"tls_cert_file": pki.server_cert, "tls_key_file": pki.server_key, **extra}


def _channel(mode: str, pki: Pki, port: int, client_cert: bool = True) -> grpc.Channel:
    target = f"127.0.0.1:{port}"
    if mode == "insecure":
        return grpc.insecure_channel(target)
    pair: dict[str, bytes] = {}
    if mode == "mtls" and client_cert:
        pair = {
            "private_key": pki.client_key.read_bytes(),
            "certificate_chain": pki.client_cert.read_bytes(),
        }
    return grpc.secure_channel(target, grpc.ssl_channel_credentials(pki.ca.read_bytes(), **pair))


@pytest.fixture
def channels() -> Iterator[Callable[[grpc.Channel], grpc.Channel]]:
    opened: list[grpc.Channel] = []
    yield lambda ch: opened.append(ch) or ch  # type: ignore[func-returns-value]
    for ch in opened:
        ch.close()


@pytest.mark.parametrize("mode", ["insecure", "tls", "mtls"])
def test_auth_matrix(
    mode: str,
    keys: Keys,
    pki: Pki,
    start_server: Callable[..., Running],
    channels: Callable[[grpc.Channel], grpc.Channel],
) -> None:
    run = start_server(api_keys_file=keys.path, **_tls_overrides(mode, pki))
    stub = pb_grpc.PersonalizationServiceStub(channels(_channel(mode, pki, run.port)))
    batch = pb.DecideBatchRequest(requests=[make_request("C1"), make_request("C2")])
    cases = {
        "no key": (None, Code.UNAUTHENTICATED),
        "bad key": (generate_key(), Code.UNAUTHENTICATED),
        "wrong role": (keys.admin, Code.PERMISSION_DENIED),
        "right role": (keys.decide, Code.OK),
    }
    for case, (key, expected) in cases.items():
        md = _bearer(key)
        assert _code(stub.Decide, make_request(), timeout=5, metadata=md) == expected, case
        assert _code(stub.DecideBatch, batch, timeout=5, metadata=md) == expected, case
    if mode == "mtls":  # no client certificate: the handshake fails, the server lives on
        bare = pb_grpc.PersonalizationServiceStub(
            channels(_channel(mode, pki, run.port, client_cert=False))
        )
        md = _bearer(keys.decide)
        assert _code(bare.Decide, make_request(), timeout=5, metadata=md) == Code.UNAVAILABLE
        assert stub.Decide(make_request(), timeout=5, metadata=md).decision_id == "d-C000123-3"


def test_malformed_authorization_is_unauthenticated(
    keys: Keys, start_server: Callable[..., Running]
) -> None:
    run = start_server(api_keys_file=keys.path)
    for md in (
        [("authorization", keys.decide)],  # no scheme
        [("authorization", f"Basic {keys.decide}")],
        [("authorization", "Bearer ")],
        [("authorization", f"Bearer {keys.decide}"), ("authorization", "Bearer x")],
        [("authorization", "Bearer " + "x" * 5000)],
    ):
        assert _code(run.stub.Decide, make_request(), timeout=5, metadata=md) == (
            Code.UNAUTHENTICATED
        )
    md = [("authorization", f"bearer  {keys.decide} ")]  # scheme is case-insensitive
    assert run.stub.Decide(make_request(), timeout=5, metadata=md).decision_id


def test_health_and_reflection_open_by_default_closable(
    keys: Keys, start_server: Callable[..., Running]
) -> None:
    run = start_server(api_keys_file=keys.path)
    assert run.health_status() == "SERVING"
    assert "grpc.health.v1.Health" in ProtoReflectionDescriptorDatabase(run.channel).get_services()

    closed = start_server(api_keys_file=keys.path, auth_health=True, auth_reflection=True)
    check = health_pb2.HealthCheckRequest()
    assert _code(closed.health.Check, check, timeout=5) == Code.UNAUTHENTICATED
    # Any valid key will do, whatever its roles.
    ok = closed.health.Check(check, timeout=5, metadata=_bearer(keys.admin))
    assert ok.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as info:  # a streaming RPC is guarded too
        ProtoReflectionDescriptorDatabase(closed.channel).get_services()
    assert info.value.code() == Code.UNAUTHENTICATED  # type: ignore[attr-defined]
    watch = health_pb2_grpc.HealthStub(closed.channel).Watch(
        check, timeout=5, metadata=_bearer(keys.decide)
    )
    assert next(iter(watch)).status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()


def test_role_table_longest_prefix_and_fail_closed() -> None:
    policy = AccessPolicy(
        roles={"/p.S/": DECIDE, "/p.S/Dangerous": ADMIN, "/p.Open/": None},
        open_prefixes=("/grpc.health.v1.Health/",),
    )
    assert policy.requirement("/p.S/Decide").role == DECIDE
    assert policy.requirement("/p.S/Dangerous").role == ADMIN
    assert policy.requirement("/p.Open/X").role is None
    assert not policy.requirement("/p.Open/X").open
    assert policy.requirement("/grpc.health.v1.Health/Check").open
    assert policy.requirement("/p.Unlisted/X").role == ADMIN  # fail closed
    default = AccessPolicy.from_settings(auth_health=False, auth_reflection=True)
    assert default.requirement("/personalization.v1.AdminService/Forget").role == ADMIN
    assert default.requirement("/personalization.v1.PersonalizationService/Decide").role == DECIDE
    assert not default.requirement("/grpc.reflection.v1alpha.ServerReflection/X").open


class _PrincipalEngine(FakeEngine):
    seen: list[str | None]

    def decide(self, req: DecisionRequest) -> Decision:
        principal = current_principal()
        self.seen.append(principal.key_id if principal else None)
        return super().decide(req)


def test_principal_is_visible_downstream_and_reset(
    keys: Keys, start_server: Callable[..., Running]
) -> None:
    engine = _PrincipalEngine()
    engine.seen = []
    run = start_server(engine, api_keys_file=keys.path, thread_pool_size=1)
    run.stub.Decide(make_request(), timeout=5, metadata=_bearer(keys.decide))
    assert engine.seen == ["bot-eu"]
    assert current_principal() is None

    open_engine = _PrincipalEngine()
    open_engine.seen = []
    start_server(open_engine).stub.Decide(make_request(), timeout=5)
    assert open_engine.seen == [None]  # auth disabled: no principal


def test_keys_and_customer_ids_never_logged(
    keys: Keys, start_server: Callable[..., Running], caplog: pytest.LogCaptureFixture
) -> None:
    bad = generate_key()
    with caplog.at_level(logging.DEBUG):
        run = start_server(api_keys_file=keys.path)
        stub = run.stub
        for md in (_bearer(bad), _bearer(keys.admin), _bearer(keys.decide), None):
            _code(stub.Decide, make_request("secret-cust-7"), timeout=5, metadata=md)
        invalid = make_request("secret-cust-7", sentiment=5.0)
        _code(stub.Decide, invalid, timeout=5, metadata=_bearer(keys.decide))
    formatter = JsonFormatter()
    text = "\n".join(formatter.format(r) for r in caplog.records)
    for secret in (bad, keys.admin, keys.decide, "secret-cust-7"):
        assert secret not in text
    access = [
        json.loads(formatter.format(r)) for r in caplog.records if r.getMessage() == "rpc finished"
    ]
    assert [(a["status"], a.get("principal"), a.get("auth_error")) for a in access] == [
        ("UNAUTHENTICATED", None, "UnauthenticatedError"),
        ("PERMISSION_DENIED", None, "PermissionDeniedError"),
        ("OK", "bot-eu", None),
        ("UNAUTHENTICATED", None, "UnauthenticatedError"),
        ("INVALID_ARGUMENT", "bot-eu", None),
    ]


def test_auth_disabled_warns(
    start_server: Callable[..., Running], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        start_server()
    assert any("AUTHENTICATION DISABLED" in r.getMessage() for r in caplog.records)
