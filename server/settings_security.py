"""Security settings of the server (a mixin of :class:`server.settings.Settings`): API keys,
TLS and mutual TLS, and the audit log, with the check that their combinations make sense."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings


class SecuritySettings(BaseSettings):
    """Authentication, TLS and audit fields; the env prefix and the rest of the config
    come from :class:`server.settings.Settings`."""

    # --- authentication and TLS --------------------------------------------------------
    api_keys_file: Path | None = Field(
        default=None,
        description="JSON or YAML file of hashed API keys (see 'python -m server.keys'). "
        "Unset disables authentication: every caller may call every RPC. Only do that "
        "behind something else that authenticates; the server warns at startup.",
    )
    auth_health: bool = Field(
        default=False,
        description="Require a valid API key (any role) for the health service. Off: "
        "probes need no key.",
    )
    auth_reflection: bool = Field(
        default=False,
        description="Require a valid API key (any role) for server reflection. Off: "
        "anyone may list the services.",
    )
    tls_cert_file: Path | None = Field(
        default=None,
        description="PEM certificate chain of the server. With tls_key_file it turns on "
        "TLS; unset serves plaintext (API keys then cross the network in clear).",
    )
    tls_key_file: Path | None = Field(default=None, description="PEM private key of tls_cert_file.")
    tls_client_ca_file: Path | None = Field(
        default=None,
        description="PEM CA bundle for mutual TLS: when set, clients must present a "
        "certificate signed by it or the handshake fails. Needs tls_cert_file.",
    )

    # --- audit log -----------------------------------------------------------------
    audit_log_path: Path | None = Field(
        default=None,
        description="Append-only JSON-lines audit log, one line per customer decided "
        "for; each line is fsync'd before the response is sent. Unset disables it.",
    )
    audit_hash_customer_ids: bool = Field(
        default=False,
        description="Store HMAC-SHA256(audit_hmac_key, customer_id) instead of the id.",
    )
    audit_hmac_key: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="Secret key for audit_hash_customer_ids (at least 16 characters). "
        "Keep it: erasing a customer from a hashed log needs it.",
    )

    @model_validator(mode="after")
    def _check_combinations(self) -> Self:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file must be set together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file (mutual TLS) needs tls_cert_file/tls_key_file")
        if self.audit_hash_customer_ids and self.audit_hmac_key is None:
            raise ValueError("audit_hash_customer_ids needs audit_hmac_key")
        return self
