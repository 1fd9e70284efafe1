"""The erasure record: one JSON line per erased customer, appended, never the id.

Example (one line, wrapped here)::

    {"ts": "2025-03-04T15:30:00.123Z", "subject": "hmac-sha256:9f2c...",
     "key_id": "4be1c0de", "status": "complete", "total": 57,
     "removed": {"online": {"sqlite": 22, "redis": 1},
                 "offline": {"customer_profile.parquet": 2, ...},
                 "logs": {"/var/log/personalization/audit.jsonl": 31}},
     "errors": []}

``subject`` is HMAC-SHA256 of the customer id under a secret key (the erasure key,
else the audit log's HMAC key): whoever holds the key can answer "was customer X
erased, and when?" by recomputing it; without the key the record re-identifies
no one. ``key_id`` names the key (first 8 hex of SHA-256 of the key, which reveals
nothing about it) so records made under an old key can be told apart. With no key
configured the subject is a SHA-256 of the id under a random salt that is thrown
away at once (``"sha256-discarded-salt:..."``): nobody, the operator included, can
link that record to a person, and nobody can later check it either.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelio.audit_format import HmacKey, customer_hmac, key_bytes
from modelio.durable import sync_dir


def key_id(key: HmacKey) -> str:
    return hashlib.sha256(key_bytes(key)).hexdigest()[:8]


def subject(customer_id: str, key: HmacKey | None) -> str:
    """What the record stores instead of ``customer_id``."""
    if key is not None:
        return "hmac-sha256:" + customer_hmac(customer_id, key)
    salt = secrets.token_bytes(32)  # never stored
    return "sha256-discarded-salt:" + hashlib.sha256(salt + customer_id.encode()).hexdigest()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def append_records(path: Path, records: list[dict[str, Any]]) -> None:
    """Append ``records`` as JSON lines in one write, durably (fsync file and folder)."""
    if not records:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode("ascii")
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        sync_dir(path.parent)
