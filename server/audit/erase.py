"""Right to erasure: rewrite the audit log without one customer's lines."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from server.audit.records import HmacKey, matches_customer
from server.audit.writer import file_lock, lock_path, sync_dir

log = logging.getLogger(__name__)


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


def rewrite_lines(path: Path, drop: Callable[[bytes], bool]) -> int:
    """Rewrite ``path`` without the lines ``drop`` selects; return how many it dropped.

    Atomic and durable: temp file beside it, fsync, rename, fsync of the folder; the
    file is left untouched when nothing is dropped. The caller holds any lock.
    """
    removed = 0
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with open(path, "rb") as src, os.fdopen(fd, "wb") as dst:
            for line in src:
                if drop(line):
                    removed += 1
                    continue
                dst.write(line if line.endswith(b"\n") else line + b"\n")
            dst.flush()
            os.fsync(dst.fileno())
        if removed:
            os.chmod(tmp, os.stat(path).st_mode & 0o777)
            os.replace(tmp, path)
            sync_dir(path.parent)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return removed
