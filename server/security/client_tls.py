"""Client-side options shared by ``server.client`` and ``server.healthcheck``:
TLS / mutual TLS channels and the API key.

The key is read from ``$PERSONALIZATION_CLIENT_API_KEY`` or ``--api-key-file``,
never from a flag, so it does not show up in ``ps`` or shell history.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import grpc

API_KEY_ENV = "PERSONALIZATION_CLIENT_API_KEY"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --tls, --ca, --cert, --key, --server-name and --api-key-file."""
    g = parser.add_argument_group("security")
    g.add_argument("--tls", action="store_true", help="use TLS (implied by --ca/--cert)")
    g.add_argument("--ca", type=Path, help="CA bundle that signed the server certificate")
    g.add_argument("--cert", type=Path, help="client certificate (mutual TLS)")
    g.add_argument("--key", type=Path, help="client private key (mutual TLS)")
    g.add_argument("--server-name", help="expected name in the server certificate")
    g.add_argument(
        "--api-key-file", type=Path, help=f"file holding the API key (default: ${API_KEY_ENV})"
    )


def channel(args: argparse.Namespace, target: str) -> grpc.Channel:
    """A plaintext or TLS channel to ``target`` as the parsed flags ask."""
    if (args.cert is None) != (args.key is None):
        raise SystemExit("--cert and --key go together")
    if not (args.tls or args.ca or args.cert):
        return grpc.insecure_channel(target)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=args.ca.read_bytes() if args.ca else None,
        private_key=args.key.read_bytes() if args.key else None,
        certificate_chain=args.cert.read_bytes() if args.cert else None,
    )
    options = [("grpc.ssl_target_name_override", args.server_name)] if args.server_name else []
    return grpc.secure_channel(target, credentials, options=options)


def metadata(args: argparse.Namespace) -> list[tuple[str, str]]:
    """``[("authorization", "Bearer <key>")]`` if a key is configured, else ``[]``."""
    key = (
        args.api_key_file.read_text().strip() if args.api_key_file else os.environ.get(API_KEY_ENV)
    )
    return [("authorization", f"Bearer {key.strip()}")] if key and key.strip() else []
