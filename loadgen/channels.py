"""Channels to the targets: plaintext, TLS or mutual TLS, and the API key sent with every call.

The flags mirror ``python -m server.client``'s (``--tls``, ``--ca``, ``--cert``/``--key``,
``--server-name``, ``--api-key-file``, else ``$PERSONALIZATION_CLIENT_API_KEY``), so a
command that works with the client works here; the load generator does not import the
server, it ships apart from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

API_KEY_ENV = "PERSONALIZATION_CLIENT_API_KEY"
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.max_send_message_length", 64 << 20),
]


@dataclass(frozen=True)
class Security:
    """How every channel of a run connects and authenticates (picklable: it travels to
    the client processes; the files are read there)."""

    tls: bool = False
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    server_name: str | None = None
    api_key: str | None = field(default=None, repr=False)  # never printed
    lb_policy: str | None = None  # e.g. round_robin over a DNS name with several addresses

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise ValueError("--cert and --key go together")

    @property
    def uses_tls(self) -> bool:
        return self.tls or self.ca is not None or self.cert is not None

    @property
    def metadata(self) -> tuple[tuple[str, str], ...] | None:
        """``authorization: Bearer <key>`` when a key is set, else None."""
        return (("authorization", f"Bearer {self.api_key}"),) if self.api_key else None

    def options(self) -> list[tuple[str, Any]]:
        extra: list[tuple[str, Any]] = []
        if self.server_name:
            extra.append(("grpc.ssl_target_name_override", self.server_name))
        if self.lb_policy:
            extra.append(("grpc.lb_policy_name", self.lb_policy))
        return CHANNEL_OPTIONS + extra

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca.read_bytes() if self.ca else None,
            private_key=self.key.read_bytes() if self.key else None,
            certificate_chain=self.cert.read_bytes() if self.cert else None,
        )


def read_api_key(path: Path | None) -> str | None:
    """The key in ``path``, else ``$PERSONALIZATION_CLIENT_API_KEY``, else None."""
    text = path.read_text() if path is not None else os.environ.get(API_KEY_ENV, "")
    return text.strip() or None


def sync_channel(target: str, security: Security) -> grpc.Channel:
    """A blocking-API channel to ``target``."""
    if security.uses_tls:
        return grpc.secure_channel(target, security.credentials(), options=security.options())
    return grpc.insecure_channel(target, options=security.options())


def aio_channel(target: str, security: Security) -> grpc.aio.Channel:
    """A grpc.aio channel to ``target``."""
    if security.uses_tls:
        return grpc.aio.secure_channel(target, security.credentials(), options=security.options())
    return grpc.aio.insecure_channel(target, options=security.options())
