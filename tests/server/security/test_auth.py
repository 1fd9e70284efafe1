"""API-key authentication and role checks, over plaintext, TLS and mutual TLS, plus the
transport's defences against hostile input (oversized metadata, expired deadlines)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
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
from server.errors import KeyFileError
from server.logging_setup import JsonFormatter
from server.security.interceptor import bearer_key
from server.security.keys import KeyRecord, KeyStore, generate_key, hash_key, write_key_file
from server.security.keys_cli import main as keys_main
from server.security.policy import ADMIN, DECIDE, AccessPolicy
from server.security.principal import current_principal
from tests.support.servers import FakeEngine, Running, make_request
from tests.support.tls_certs import Pki, make_pki

Code = grpc.StatusCode


@dataclass(frozen=True)
class Keys:
    """A key file with one decide-only key and one admin-only key."""

    path: Path
    decide: str
    admin: str


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    decide, admin = generate_key(), generate_key()
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    write_key_file(
        path,
        [
            KeyRecord("bot-eu", hash_key(decide), frozenset({DECIDE})),
            KeyRecord("ops", hash_key(admin), frozenset({ADMIN})),
        ],
    )
    return Keys(path, decide, admin)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _bearer(key: str | None) -> list[tuple[str, str]] | None:
    return [("authorization", f"Bearer {key}")] if key is not None else None


def _code(call: Callable[..., object], *args: Any, **kwargs: Any) -> grpc.StatusCode:
    """The status ``call(*args, **kwargs)`` ends with."""
    try:
        call(*args, **kwargs)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[attr-defined, no-any-return]
    return Code.OK


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


def test_key_store_and_bearer_parsing() -> None:
    a, b = generate_key(), generate_key()
    store = KeyStore(
        [KeyRecord("a", hash_key(a), frozenset()), KeyRecord("b", hash_key(b), frozenset({DECIDE}))]
    )
    assert store.authenticate(b) == store.authenticate(b) and store.authenticate(b).key_id == "b"  # type: ignore[union-attr]
    assert store.authenticate(a + "x") is None and store.authenticate("") is None
    assert hash_key(a) != hash_key(a)  # salted
    assert bearer_key([("other", "x"), ("authorization", "Bearer k")]) == "k"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not valid JSON"),
        ('{"id": "x"}', "expected a list"),
        ('[{"id": "x", "hash": "sha1$00$00", "roles": []}]', "hash must look like"),
        ('[{"id": "x", "hash": "%s", "roles": ["root"]}]', "unknown roles"),
        (
            '[{"id": "x", "hash": "%s", "roles": []}, {"id": "x", "hash": "%s", "roles": []}]',
            "duplicate id",
        ),
        ('[{"id": "", "hash": "%s", "roles": []}]', "id must be"),
    ],
)
def test_bad_key_file_fails_startup(
    content: str, message: str, tmp_path: Path, start_server: Callable[..., Running]
) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content.replace("%s", hash_key("k")))
    with pytest.raises(KeyFileError, match=message):
        start_server(api_keys_file=path)
    with pytest.raises(KeyFileError, match="cannot read"):
        start_server(api_keys_file=tmp_path / "missing.json")


def test_keys_cli_round_trip_yaml(
    tmp_path: Path, start_server: Callable[..., Running], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys.yaml"
    assert (
        keys_main(
            ["new", "--id", "bot", "--role", "decide", "--role", "admin", "--file", str(path)]
        )
        == 0
    )
    key = capsys.readouterr().out.strip()
    assert key.startswith("pk_") and key not in path.read_text()
    assert path.stat().st_mode & 0o077 == 0
    assert keys_main(["new", "--id", "bot", "--role", "decide", "--file", str(path)]) == 1
    assert keys_main(["list", "--file", str(path)]) == 0
    assert capsys.readouterr().out == "bot\tadmin,decide\n"

    run = start_server(api_keys_file=path)
    assert run.stub.Decide(make_request(), timeout=5, metadata=_bearer(key)).decision_id
    assert keys_main(["revoke", "--id", "bot", "--file", str(path)]) == 0
    revoked = start_server(api_keys_file=path)
    assert _code(revoked.stub.Decide, make_request(), timeout=5, metadata=_bearer(key)) == (
        Code.UNAUTHENTICATED
    )


# --- hostile input -------------------------------------------------------------------


def test_oversized_metadata_is_resource_exhausted_and_server_survives(
    keys: Keys, start_server: Callable[..., Running]
) -> None:
    run = start_server(api_keys_file=keys.path, max_metadata_bytes=4096)
    ok = _bearer(keys.decide) or []
    for md in (
        [*ok, ("x-junk", "a" * 5000)],
        [*ok, *[(f"x-{i}", "b" * 90) for i in range(60)]],
        [("authorization", "Bearer " + "c" * 100_000)],
    ):
        with pytest.raises(grpc.RpcError) as info:
            run.stub.Decide(make_request(), timeout=5, metadata=md)
        assert info.value.code() == Code.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
        assert "c" * 100 not in (info.value.details() or "")  # type: ignore[attr-defined]
    assert run.stub.Decide(make_request(), timeout=5, metadata=ok).decision_id
    assert run.health_status() == "SERVING"


def test_expired_deadline_is_not_processed(start_server: Callable[..., Running]) -> None:
    engine = FakeEngine(gate=threading.Event())
    run = start_server(engine, thread_pool_size=1)
    first = run.stub.Decide.future(make_request("first"), timeout=10)
    assert engine.entered.acquire(timeout=5)  # the only handler thread is now busy
    late = run.stub.Decide.future(make_request("late"), timeout=0.2)
    assert _code(late.result) == Code.DEADLINE_EXCEEDED
    engine.gate.set()  # type: ignore[union-attr]
    assert first.result(timeout=5).decision_id == "d-first-3"
    assert run.stub.Decide(make_request(), timeout=5).decision_id
    assert engine.entered.acquire(timeout=0)  # the last call ran...
    assert not engine.entered.acquire(timeout=0.3)  # ...but the expired one never did
