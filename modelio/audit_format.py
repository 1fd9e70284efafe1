"""The audit line format, shared by the server (which writes it) and erasure.

One JSON object per line, keys in this order::

    {"ts": "2024-05-06T14:30:15.250Z", "principal": "chatbot-eu",
     "rpc": "/personalization.v1.PersonalizationService/Decide",
     "customer_id": "C000123",            # or "customer_hmac": "<64 hex>"
     "decision_id": "d-...", "request_id": "req-1", "status": "OK"}

``principal`` is the API key id (null with auth disabled). ``decision_id`` is null
when the call failed; ``status`` is the gRPC status code name of the call.

Outcome lines (RecordOutcome, one per outcome) have no customer key at all: an
outcome names only its ``decision_id``, the caller's, so it is set even when the
call failed.

Admin lines (ReloadModels, LoadExperiment, PromoteArm: one per call) have no customer
key either, null ``decision_id``, and a ``detail`` string: what was asked and, when the
call succeeded, what serves now.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from modelio.durable import file_lock, lock_path, rewrite_lines

log = logging.getLogger(__name__)

HmacKey = str | bytes | SecretStr
#: Plain customer ids longer than this are cut (only rejected, undecided ids can be).
MAX_LOGGED_ID = 256


def key_bytes(key: HmacKey) -> bytes:
    """The HMAC key as bytes (a ``SecretStr`` or ``str`` is UTF-8 encoded)."""
    if isinstance(key, SecretStr):
        key = key.get_secret_value()
    return key.encode("utf-8") if isinstance(key, str) else key


def customer_hmac(customer_id: str, key: HmacKey) -> str:
    """HMAC-SHA256 of ``customer_id`` under ``key``, as hex: what hashed lines store."""
    return hmac.new(key_bytes(key), customer_id.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditItem:
    """One customer (or, for outcomes, one decision) of one call."""

    customer_id: str | None  # None: the call names no customer (outcomes)
    request_id: str
    decision_id: str | None
    detail: str | None = None  # admin calls: what was asked and what serves now


def audit_lines(
    *,
    rpc: str,
    principal: str | None,
    items: Iterable[AuditItem],
    status: str,
    hmac_key: HmacKey | None,
    now: datetime | None = None,
) -> bytes:
    """The newline-terminated lines for ``items``, ready to append in one write."""
    ts = (now or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    out = []
    for item in items:
        record: dict[str, Any] = {"ts": ts, "principal": principal, "rpc": rpc}
        if item.customer_id is None:
            pass
        elif hmac_key is not None:
            record["customer_hmac"] = customer_hmac(item.customer_id, hmac_key)
        else:
            record["customer_id"] = item.customer_id[:MAX_LOGGED_ID]
        decision_id = item.decision_id
        record["decision_id"] = decision_id[:MAX_LOGGED_ID] if decision_id is not None else None
        record["request_id"] = item.request_id[:MAX_LOGGED_ID]
        record["status"] = status
        if item.detail is not None:
            record["detail"] = item.detail[:1024]
        # ASCII-only JSON: control and non-ASCII characters are escaped, so a line
        # never contains a raw newline and always decodes.
        out.append(json.dumps(record, separators=(",", ":")))
    return "".join(line + "\n" for line in out).encode("ascii")


def matches_customer(record: Any, customer_id: str, hmac_key: HmacKey | None) -> bool:
    """True if a decoded line is about ``customer_id`` (in either form)."""
    if not isinstance(record, dict):
        return False
    if record.get("customer_id") == customer_id[:MAX_LOGGED_ID]:
        return True
    return hmac_key is not None and record.get("customer_hmac") == customer_hmac(
        customer_id, hmac_key
    )


def erase_customer(path: Path | str, customer_id: str, hmac_key: HmacKey | None = None) -> int:
    """Remove every audit line about ``customer_id``; return how many were removed.

    Lines stored with the plain id match directly; lines stored as a keyed hash match
    only when ``hmac_key`` (the server's ``audit_hmac_key``) is given. Pass it whenever
    the log may hold hashed lines, or they stay. The file is replaced atomically
    (temp file, fsync, rename, fsync of the directory) while holding the log's lock
    exclusively, so running servers neither lose appends nor see a half-written file;
    they reopen the new file on their next append. Lines that are not JSON (a line
    torn by a crash) are kept and counted in a warning. A missing file removes 0.
    """
    path = Path(path)
    if not path.exists():
        return 0
    lock_fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        with file_lock(lock_fd, exclusive=True):
            return _rewrite(path, customer_id, hmac_key)
    finally:
        os.close(lock_fd)


def _rewrite(path: Path, customer_id: str, hmac_key: HmacKey | None) -> int:
    unreadable = 0

    def drop(line: bytes) -> bool:
        nonlocal unreadable
        try:
            record = json.loads(line)
        except ValueError:
            unreadable += 1
            return False
        return matches_customer(record, customer_id, hmac_key)

    removed = rewrite_lines(path, drop)
    if unreadable:
        log.warning("audit log has unreadable lines", extra={"lines": unreadable})
    return removed
