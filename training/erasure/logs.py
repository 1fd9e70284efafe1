"""Remove customers' lines from JSON-lines logs (audit, decision and outcome logs).

The audit log goes through :func:`modelio.audit_format.erase_customer` (the same code, lock
and line matching the server uses). Other logs are matched more broadly, because
their format is not ours: a line is removed when, after JSON decoding, any key or
string value *is* the id or contains it as a token (not inside a longer
alphanumeric run, so ``C0000042`` does not match ``C00000421``), or equals the
id's audit HMAC (``customer_hmac``). A line that is not JSON is matched on its text.
Files are rewritten like the audit log: temp file, fsync, rename, fsync of the
folder, while holding ``<log>.lock`` exclusively when such a lock file exists
(writers that follow the audit log's protocol).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from modelio.audit_format import HmacKey, customer_hmac, erase_customer
from modelio.durable import file_lock, lock_path, rewrite_lines
from training.erasure.types import Outcome


def erase_audit_log(path: Path, customer_ids: Sequence[str], hmac_key: HmacKey | None) -> Outcome:
    """Audit lines of ``customer_ids`` (plain, or hashed when ``hmac_key`` is given)."""
    out = Outcome("logs", str(path), "lines")
    if not path.exists():
        out.note = "no such file"
        return out
    for cid in customer_ids:
        out.removed[cid] = erase_customer(path, cid, hmac_key)
    if hmac_key is None:
        out.note = "plain ids only (no audit HMAC key)"
    return out


class _Matcher:
    """Finds which of the ids a decoded line is about."""

    def __init__(self, customer_ids: Sequence[str], hmac_key: HmacKey | None) -> None:
        ordered = sorted(set(customer_ids), key=len, reverse=True)
        alternatives = "|".join(re.escape(cid) for cid in ordered)
        self._token = re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])")
        self._hashes = (
            {customer_hmac(cid, hmac_key): cid for cid in ordered} if hmac_key is not None else {}
        )

    def in_text(self, text: str) -> set[str]:
        found = {m.group(0) for m in self._token.finditer(text)}
        if self._hashes:
            found.update(cid for h, cid in self._hashes.items() if h in text)
        return found

    def in_value(self, value: Any) -> set[str]:
        found: set[str] = set()
        for text in _strings(value):
            found |= self.in_text(text)
        return found


def _strings(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _line_ids(line: bytes, matcher: _Matcher) -> set[str]:
    try:
        return matcher.in_value(json.loads(line))
    except ValueError:  # not JSON (or not UTF-8): match the text itself
        return matcher.in_text(line.decode("utf-8", "replace"))


def erase_jsonl(path: Path, customer_ids: Sequence[str], hmac_key: HmacKey | None) -> Outcome:
    """Remove every line of ``path`` about one of ``customer_ids`` (see module doc)."""
    out = Outcome("logs", str(path), "lines")
    if not path.exists():
        out.note = "no such file"
        return out
    matcher = _Matcher(customer_ids, hmac_key)
    lock = lock_path(path)
    if not lock.exists():
        _rewrite(path, matcher, out)
        return out
    lock_fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
    try:
        with file_lock(lock_fd, exclusive=True):
            _rewrite(path, matcher, out)
    finally:
        os.close(lock_fd)
    return out


def _rewrite(path: Path, matcher: _Matcher, out: Outcome) -> None:
    def drop(line: bytes) -> bool:
        ids = _line_ids(line, matcher)
        for cid in ids:
            out.removed[cid] = out.removed.get(cid, 0) + 1
        return bool(ids)

    rewrite_lines(path, drop)
