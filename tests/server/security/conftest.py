"""Fixtures of this folder: a key file with a decide-only and an admin-only key, and a
PKI (CA, server and client certificates)."""

from __future__ import annotations

import pytest

from tests.support.api_keys import Keys, decide_and_admin_keys
from tests.support.tls_certs import Pki, make_pki


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return decide_and_admin_keys(tmp_path_factory.mktemp("keys") / "keys.json", "bot-eu")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))
