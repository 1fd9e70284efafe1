"""Server-side TLS and mutual TLS credentials from the ``tls_*`` settings."""

from __future__ import annotations

from pathlib import Path

import grpc

from server.errors import SecurityError


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SecurityError(f"cannot read {what} {path}: {exc.strerror}") from None


def server_credentials(
    cert_file: Path | None, key_file: Path | None, client_ca_file: Path | None = None
) -> grpc.ServerCredentials | None:
    """TLS credentials, or None to serve plaintext (no ``cert_file``).

    With ``client_ca_file`` the server requires every client to present a
    certificate signed by that CA (mutual TLS); the handshake fails otherwise.
    Files are read once, at startup: rotating certificates needs a restart.
    """
    if cert_file is None or key_file is None:
        return None
    chain = _read(cert_file, "TLS certificate")
    key = _read(key_file, "TLS private key")
    client_ca = _read(client_ca_file, "client CA") if client_ca_file is not None else None
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )
