"""API keys: generation, the hashed key file, and constant-time verification.

A key is ``pk_`` + 43 url-safe characters (256 random bits). The server never stores
it: the key file holds, per key, an id, roles and ``hmac-sha256$<salt>$<digest>``,
the HMAC-SHA256 of the key under a random per-key salt. A slow hash (scrypt,
PBKDF2) protects low-entropy passwords against guessing; these keys cannot be
guessed, so a fast salted hash is as safe and costs microseconds per request.

Key file (JSON, or YAML when the name ends in .yaml/.yml), a list of::

    {"id": "chatbot-eu", "hash": "hmac-sha256$9f2c...$5be1...", "roles": ["decide"]}
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.errors import KeyFileError
from server.security.principal import Principal

KEY_PREFIX = "pk_"
SCHEME = "hmac-sha256"
#: Longer bearer tokens are rejected before hashing: no key is this long.
MAX_KEY_LENGTH = 256


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One entry of the key file."""

    id: str
    hash: str
    roles: frozenset[str]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "hash": self.hash, "roles": sorted(self.roles)}


def generate_key() -> str:
    """A new random API key (shown to the operator once, never stored)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _digest(salt: bytes, key: str) -> bytes:
    return hmac.new(salt, key.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()


def hash_key(key: str, salt: bytes | None = None) -> str:
    """``hmac-sha256$<salt hex>$<digest hex>`` for ``key`` (random salt by default)."""
    salt = secrets.token_bytes(16) if salt is None else salt
    return f"{SCHEME}${salt.hex()}${_digest(salt, key).hex()}"


def _parse_hash(value: str, where: str) -> tuple[bytes, bytes]:
    scheme, _, rest = value.partition("$")
    salt_hex, _, digest_hex = rest.partition("$")
    try:
        salt, digest = bytes.fromhex(salt_hex), bytes.fromhex(digest_hex)
    except ValueError:
        salt = digest = b""
    if scheme != SCHEME or not salt or len(digest) != hashlib.sha256().digest_size:
        raise KeyFileError(f"{where}: hash must look like '{SCHEME}$<salt hex>$<64 hex digits>'")
    return salt, digest


class KeyStore:
    """Verifies presented keys against every record, in time independent of which
    (if any) matches: each record's digest is computed and compared with
    ``hmac.compare_digest``, and the loop never exits early."""

    def __init__(self, records: Iterable[KeyRecord]) -> None:
        self.records = tuple(records)
        self._entries = [
            (_parse_hash(r.hash, f"key {r.id!r}"), Principal(r.id, r.roles)) for r in self.records
        ]

    def __len__(self) -> int:
        return len(self.records)

    def authenticate(self, key: str) -> Principal | None:
        """The principal whose key this is, or None."""
        if not key or len(key) > MAX_KEY_LENGTH:
            return None
        found: Principal | None = None
        for (salt, expected), principal in self._entries:
            if hmac.compare_digest(_digest(salt, key), expected) and found is None:
                found = principal
        return found


def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml")


def parse_records(raw: Any, known_roles: Collection[str], where: str) -> list[KeyRecord]:
    """Validate the decoded key file: a list of {id, hash, roles} with unique ids."""
    if not isinstance(raw, list):
        raise KeyFileError(f"{where}: expected a list of keys")
    records: list[KeyRecord] = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, dict) or set(item) - {"id", "hash", "roles"}:
            raise KeyFileError(f"{at}: expected an object with id, hash and roles only")
        key_id, digest, roles = item.get("id"), item.get("hash"), item.get("roles")
        if not isinstance(key_id, str) or not key_id:
            raise KeyFileError(f"{at}: id must be a non-empty string")
        if not isinstance(digest, str):
            raise KeyFileError(f"{at}: hash must be a string")
        _parse_hash(digest, at)
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise KeyFileError(f"{at}: roles must be a list of strings")
        unknown = set(roles) - set(known_roles)
        if unknown:
            raise KeyFileError(
                f"{at}: unknown roles {sorted(unknown)}; known {sorted(known_roles)}"
            )
        if any(r.id == key_id for r in records):
            raise KeyFileError(f"{at}: duplicate id {key_id!r}")
        records.append(KeyRecord(key_id, digest, frozenset(roles)))
    return records


def _decode(path: Path, text: str) -> Any:
    if not text.strip():
        return []
    if not _is_yaml(path):
        return json.loads(text)
    import yaml  # only needed for YAML key files

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from None


def read_key_file(path: Path, known_roles: Collection[str]) -> list[KeyRecord]:
    """Records of the key file at ``path`` (a missing file is an error, not 'no keys')."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyFileError(f"cannot read API key file {path}: {exc.strerror}") from None
    try:
        raw = _decode(path, text)
    except ValueError as exc:
        kind = "YAML" if _is_yaml(path) else "JSON"
        raise KeyFileError(f"{path}: not valid {kind}: {exc}") from None
    return parse_records(raw, known_roles, str(path))


def write_key_file(path: Path, records: Iterable[KeyRecord]) -> None:
    """Replace ``path`` atomically with ``records``, readable by the owner only."""
    data = [r.to_json() for r in records]
    if _is_yaml(path):
        import yaml

        text = yaml.safe_dump(data, sort_keys=False)
    else:
        text = json.dumps(data, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:  # mkstemp: mode 0600 already
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
