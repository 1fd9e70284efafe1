"""Fixtures of this folder: a key file with a decide-only and an admin-only key, and a
PKI (CA, server and client certificates)."""

from __future__ import annotations

import pytest

from server.security.keys import KeyRecord, generate_key, hash_key, write_key_file
from server.security.policy import ADMIN, DECIDE
from tests.support.api_keys import Keys
from tests.support.tls_certs import Pki, make_pki


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
