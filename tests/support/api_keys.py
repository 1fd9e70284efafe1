"""Helpers for API-key tests: the key pair a key file holds, bearer metadata, and the status
code a call ends with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from tests.support.servers import Code


@dataclass(frozen=True)
class Keys:
    """A key file with one decide-only key and one admin-only key."""

    path: Path
    decide: str
    admin: str


def _bearer(key: str | None) -> list[tuple[str, str]] | None:
    return [("authorization", f"Bearer {key}")] if key is not None else None


def _code(call: Callable[..., object], *args: Any, **kwargs: Any) -> grpc.StatusCode:
    """The status ``call(*args, **kwargs)`` ends with."""
    try:
        call(*args, **kwargs)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[attr-defined, no-any-return]
    return Code.OK
