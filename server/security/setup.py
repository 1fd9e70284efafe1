"""Build the security parts of a server from :class:`~server.settings.Settings`."""

from __future__ import annotations

import ipaddress
import logging

import grpc

from server.security.interceptor import AuthInterceptor
from server.security.keys import KeyStore, read_key_file
from server.security.policy import ROLES, AccessPolicy
from server.security.tls import server_credentials
from server.settings import Settings

log = logging.getLogger("server.security")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def build_auth(settings: Settings) -> AuthInterceptor | None:
    """The auth interceptor, or None (with a loud warning) when no key file is set."""
    if settings.api_keys_file is None:
        log.warning(
            "AUTHENTICATION DISABLED: PERSONALIZATION_API_KEYS_FILE is not set, so any "
            "caller that can reach the port may call every RPC"
        )
        return None
    keys = KeyStore(read_key_file(settings.api_keys_file, ROLES))
    if not keys:
        log.warning("API key file has no keys: every authenticated RPC will be refused")
    if settings.tls_cert_file is None and not _is_loopback(settings.host):
        log.warning("API keys are accepted over plaintext; set tls_cert_file/tls_key_file")
    log.info(
        "authentication enabled",
        extra={
            "keys": len(keys),
            "auth_health": settings.auth_health,
            "auth_reflection": settings.auth_reflection,
        },
    )
    policy = AccessPolicy.from_settings(settings.auth_health, settings.auth_reflection)
    return AuthInterceptor(keys, policy)


def build_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS (or mutual TLS) server credentials, or None for plaintext."""
    creds = server_credentials(
        settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file
    )
    if creds is not None:
        log.info("TLS enabled", extra={"mutual_tls": settings.tls_client_ca_file is not None})
    return creds
