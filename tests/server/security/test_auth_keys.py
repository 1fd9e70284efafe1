"""Key files and the keys CLI (parsing, bad files fail startup, a YAML round trip), plus the
transport's defences against hostile input (oversized metadata, expired deadlines)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from server.errors import KeyFileError
from server.security.interceptor import bearer_key
from server.security.keys import KeyRecord, KeyStore, generate_key, hash_key
from server.security.keys_cli import main as keys_main
from server.security.policy import DECIDE
from tests.support.api_keys import Keys, _bearer, _code
from tests.support.servers import Code, FakeEngine, Running, make_request


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
