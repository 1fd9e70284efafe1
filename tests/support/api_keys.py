"""Helpers for API-key tests: the key pair a key file holds, bearer metadata, and the status
code a call ends with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from server.security.keys import KeyRecord, generate_key, hash_key, write_key_file
from server.security.policy import ADMIN, DECIDE
from tests.support.servers import Code


@dataclass(frozen=True)
class Keys:
    """A key file with one decide-only key and one admin-only key."""

    path: Path
    decide: str
    admin: str


def decide_and_admin_keys(path: Path, decide_id: str = "bot") -> Keys:
    """Write a key file at ``path`` with a decide-only key (``decide_id``) and an
    admin-only key (``ops``); return both keys in the clear."""
    decide, admin = generate_key(), generate_key()
    write_key_file(
        path,
        [
            KeyRecord(decide_id, hash_key(decide), frozenset({DECIDE})),
            KeyRecord("ops", hash_key(admin), frozenset({ADMIN})),
        ],
    )
    return Keys(path, decide, admin)


def _bearer(key: str | None) -> list[tuple[str, str]] | None:
    return [("authorization", f"Bearer {key}")] if key is not None else None


def _code(call: Callable[..., object], *args: Any, **kwargs: Any) -> grpc.StatusCode:
    """The status ``call(*args, **kwargs)`` ends with."""
    try:
        call(*args, **kwargs)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[attr-defined, no-any-return]
    return Code.OK
