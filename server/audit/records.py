"""The audit line format.

One JSON object per line, keys in this order::

    {"ts": "2024-05-06T14:30:15.250Z", "principal": "chatbot-eu",
     "rpc": "/personalization.v1.PersonalizationService/Decide",
     "customer_id": "C000123",            # or "customer_hmac": "<64 hex>"
     "decision_id": "d-...", "request_id": "req-1", "status": "OK"}

``principal`` is the API key id (null with auth disabled). ``decision_id`` is null
when the call failed; ``status`` is the gRPC status code name of the call.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

HmacKey = str | bytes | SecretStr
#: Plain customer ids longer than this are cut (only rejected, undecided ids can be).
MAX_LOGGED_ID = 256


def _key_bytes(key: HmacKey) -> bytes:
    if isinstance(key, SecretStr):
        key = key.get_secret_value()
    return key.encode("utf-8") if isinstance(key, str) else key


def customer_hmac(customer_id: str, key: HmacKey) -> str:
    """HMAC-SHA256 of ``customer_id`` under ``key``, as hex: what hashed lines store."""
    return hmac.new(_key_bytes(key), customer_id.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditItem:
    """One customer of one call."""

    customer_id: str
    request_id: str
    decision_id: str | None


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
        if hmac_key is not None:
            record["customer_hmac"] = customer_hmac(item.customer_id, hmac_key)
        else:
            record["customer_id"] = item.customer_id[:MAX_LOGGED_ID]
        record["decision_id"] = item.decision_id
        record["request_id"] = item.request_id[:MAX_LOGGED_ID]
        record["status"] = status
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
