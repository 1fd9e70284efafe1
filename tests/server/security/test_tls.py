"""TLS and mutual TLS: handshakes that must fail, the client and healthcheck flags."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from personalization.v1 import personalization_pb2_grpc as pb_grpc
from server.client import main as client_main
from server.errors import SecurityError
from server.healthcheck import main as healthcheck_main
from server.security.client_tls import API_KEY_ENV
from server.security.keys import KeyRecord, generate_key, hash_key, write_key_file
from server.security.policy import DECIDE
from server.settings import Settings
from tests.support.servers import Running, make_request
from tests.support.tls_certs import Pki


def _tls(pki: Pki, mutual: bool) -> dict[str, Path]:
    extra = {"tls_client_ca_file": pki.ca} if mutual else {}
    return {"tls_cert_file": pki.server_cert, "tls_key_file": pki.server_key, **extra}


def _decide_code(channel: grpc.Channel) -> grpc.StatusCode:
    with channel:
        try:
            pb_grpc.PersonalizationServiceStub(channel).Decide(make_request(), timeout=5)
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[attr-defined, no-any-return]
    return grpc.StatusCode.OK


def _creds(
    pki: Pki, ca: Path | None, cert: Path | None = None, key: Path | None = None
) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        ca.read_bytes() if ca else None,
        key.read_bytes() if key else None,
        cert.read_bytes() if cert else None,
    )


def test_tls_server_refuses_plaintext_and_unknown_ca(
    pki: Pki, start_server: Callable[..., Running]
) -> None:
    run = start_server(**_tls(pki, mutual=False))
    assert _decide_code(grpc.insecure_channel(run.target)) == grpc.StatusCode.UNAVAILABLE
    wrong_ca = grpc.secure_channel(run.target, _creds(pki, pki.other_ca))
    assert _decide_code(wrong_ca) == grpc.StatusCode.UNAVAILABLE
    by_name = grpc.secure_channel(f"localhost:{run.port}", _creds(pki, pki.ca))
    assert _decide_code(by_name) == grpc.StatusCode.OK  # the DNS SAN works as well as the IP


def test_mtls_refuses_missing_and_foreign_client_certs_and_keeps_serving(
    pki: Pki, start_server: Callable[..., Running]
) -> None:
    run = start_server(**_tls(pki, mutual=True))
    good = _creds(pki, pki.ca, pki.client_cert, pki.client_key)
    for creds in (
        _creds(pki, pki.ca),
        _creds(pki, pki.ca, pki.other_client_cert, pki.other_client_key),
    ):
        assert _decide_code(grpc.secure_channel(run.target, creds)) == grpc.StatusCode.UNAVAILABLE
        assert _decide_code(grpc.secure_channel(run.target, good)) == grpc.StatusCode.OK


def test_client_and_healthcheck_speak_mtls_with_an_api_key(
    pki: Pki,
    tmp_path: Path,
    start_server: Callable[..., Running],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = generate_key()
    keys_file = tmp_path / "keys.json"
    write_key_file(keys_file, [KeyRecord("cli", hash_key(key), frozenset({DECIDE}))])
    run = start_server(api_keys_file=keys_file, auth_health=True, **_tls(pki, mutual=True))
    tls = ["--target", run.target, "--ca", str(pki.ca)]
    mtls = [*tls, "--cert", str(pki.client_cert), "--key", str(pki.client_key)]

    assert healthcheck_main(mtls) == 1  # no key: health is closed by auth_health
    assert client_main([*mtls, "--customer-id", "C9", "--json"]) == 1
    assert "UNAUTHENTICATED" in capsys.readouterr().err

    key_file = tmp_path / "client.key"
    key_file.write_text(key + "\n")
    assert (
        client_main([*mtls, "--customer-id", "C9", "--json", "--api-key-file", str(key_file)]) == 0
    )
    assert json.loads(capsys.readouterr().out)["decision_id"] == "d-C9-1"

    monkeypatch.setenv(API_KEY_ENV, key)
    assert healthcheck_main(mtls) == 0
    assert client_main([*mtls, "--customer-id", "C9"]) == 0
    assert healthcheck_main(tls) == 1  # no client certificate: handshake refused
    assert healthcheck_main(["--target", run.target]) == 1  # plaintext
    with pytest.raises(SystemExit):
        client_main([*tls, "--customer-id", "C9", "--cert", str(pki.client_cert)])


def test_tls_settings_validation(
    pki: Pki, tmp_path: Path, start_server: Callable[..., Running]
) -> None:
    with pytest.raises(ValueError, match="together"):
        Settings(tls_cert_file=pki.server_cert)
    with pytest.raises(ValueError, match="mutual TLS"):
        Settings(tls_client_ca_file=pki.ca)
    empty = Settings.model_validate({"tls_cert_file": "", "tls_key_file": ""})
    assert empty.tls_cert_file is None  # PERSONALIZATION_TLS_CERT_FILE= means unset
    with pytest.raises(SecurityError, match="cannot read TLS private key"):
        start_server(tls_cert_file=pki.server_cert, tls_key_file=tmp_path / "nope.key")
