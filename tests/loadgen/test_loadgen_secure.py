"""The load generator against real servers with TLS, mutual TLS and API keys, over two
targets: no error with the right key, and every call reported with the status the server
gave when the key is wrong, missing or lacks the role.

Servers are ``create_server`` around a FakeEngine on 127.0.0.1 (tests/support/servers);
the PKI is generated into a temporary folder (tests/support/tls_certs)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from loadgen.__main__ import main as loadgen_main
from loadgen.channels import API_KEY_ENV
from tests.support.api_keys import decide_and_admin_keys
from tests.support.servers import Running
from tests.support.tls_certs import Pki, make_pki


@dataclass(frozen=True)
class Secured:
    """Two TLS + API-key servers, one more with mutual TLS, and the key files."""

    pki: Pki
    targets: tuple[str, str]
    mtls_target: str
    decide_key: Path
    admin_key: Path


@pytest.fixture
def secured(tmp_path: Path, start_server: Callable[..., Running]) -> Secured:
    pki = make_pki(tmp_path)
    pair = decide_and_admin_keys(tmp_path / "keys.json")
    keys, decide, admin = pair.path, pair.decide, pair.admin
    tls = {"tls_cert_file": pki.server_cert, "tls_key_file": pki.server_key}
    runs = [start_server(api_keys_file=keys, **tls) for _ in range(2)]
    mtls = start_server(api_keys_file=keys, tls_client_ca_file=pki.ca, **tls)
    (tmp_path / "decide.key").write_text(decide + "\n")
    (tmp_path / "admin.key").write_text(admin)
    return Secured(
        pki,
        (f"localhost:{runs[0].port}", f"127.0.0.1:{runs[1].port}"),
        f"localhost:{mtls.port}",
        tmp_path / "decide.key",
        tmp_path / "admin.key",
    )


def _run(out: Path, *flags: str) -> tuple[int, dict, dict]:
    code = loadgen_main(
        [
            *flags,
            *("--known-count", "50", "--duration", "1", "--warmup", "0.2"),
            *("--json", str(out / "r.json"), "--ghz-json", str(out / "g.json")),
        ]
    )
    return code, json.loads((out / "r.json").read_text()), json.loads((out / "g.json").read_text())


def _open(secured: Secured) -> list[str]:
    two = [f for t in secured.targets for f in ("--target", t)]
    return [*two, "--ca", str(secured.pki.ca), "--rate", "200", "--arrival", "constant"]


def test_tls_and_api_key_over_two_targets_without_errors(secured: Secured, tmp_path: Path) -> None:
    code, result, ghz = _run(tmp_path, *_open(secured), "--api-key-file", str(secured.decide_key))
    assert code == 0 and result["error_count"] == 0 and result["errors"] == {}
    assert result["ok"] == 200 and result["tls"] and result["api_key"]
    assert [result["targets"][t]["ok"] for t in secured.targets] == [100, 100]
    assert ghz["statusCodeDistribution"] == {"OK": 200} and ghz["errorDistribution"] == {}
    assert ghz["options"]["insecure"] is False


def test_wrong_missing_and_role_less_keys_are_errors_with_their_status(
    secured: Secured, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(API_KEY_ENV, "pk_" + "x" * 43)  # a well-formed key nobody has
    code, wrong, ghz = _run(tmp_path, *_open(secured))
    assert code == 1 and wrong["ok"] == 0 and wrong["errors"] == {"UNAUTHENTICATED": 200}
    assert ghz["statusCodeDistribution"] == {"Unauthenticated": 200}
    assert all("code = Unauthenticated desc = " in e for e in ghz["errorDistribution"])
    monkeypatch.delenv(API_KEY_ENV)
    code, missing, _ = _run(tmp_path, *_open(secured))
    assert code == 1 and missing["errors"] == {"UNAUTHENTICATED": 200}
    assert any("missing" in m.lower() for m in missing["error_messages"])
    code, admin, _ = _run(tmp_path, *_open(secured), "--api-key-file", str(secured.admin_key))
    assert code == 1 and admin["errors"] == {"PERMISSION_DENIED": 200}


def test_mutual_tls_with_a_client_certificate(secured: Secured, tmp_path: Path) -> None:
    pki = secured.pki
    code, result, _ = _run(
        tmp_path,
        *("--target", secured.mtls_target, "--mode", "closed", "--concurrency", "2"),
        *("--ca", str(pki.ca), "--cert", str(pki.client_cert), "--key", str(pki.client_key)),
        *("--api-key-file", str(secured.decide_key)),
    )
    assert code == 0 and result["error_count"] == 0 and result["ok"] > 0 and result["mtls"]
