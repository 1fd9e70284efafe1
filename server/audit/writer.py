"""Durable, thread-safe appends to the audit log, with group commit.

``AuditWriter.append(data)`` returns only once ``data`` is on disk (written with
O_APPEND, then ``fdatasync``): the caller may then acknowledge the decision. Threads
that append while a sync is in progress queue up and the next sync covers them all,
so many concurrent RPCs share one ``fdatasync`` instead of waiting for one each.

Several processes (``workers > 1``) may append to one file: each append is one
``write`` on an O_APPEND descriptor. They and :func:`server.audit.erase_customer`
coordinate through ``flock`` on ``<path>.lock``: appends take it shared, erasure
takes it exclusive and replaces the file; an appender then notices the new inode
and reopens the path. Renaming the file away (log rotation) works the same way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path

from modelio.durable import file_lock, lock_path, sync_dir
from server.errors import AuditWriteError

log = logging.getLogger(__name__)
_sync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync


class _Batch:
    __slots__ = ("chunks", "done", "error")

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.done = False
        self.error: Exception | None = None


class AuditWriter:
    """Appends newline-terminated lines to ``path``; see the module docstring."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._cond = threading.Condition()
        self._open_batch = _Batch()
        self._flushing = False
        self._closed = False
        self._lock_fd = os.open(lock_path(self.path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._fd = -1
        self._check_tail = True
        self._reopen()

    def _reopen(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        self._fd = os.open(self.path, flags, 0o600)
        sync_dir(self.path.parent)  # a new file's directory entry must survive a crash too
        self._check_tail = True

    def _replaced(self) -> bool:
        try:
            return os.stat(self.path).st_ino != os.fstat(self._fd).st_ino
        except FileNotFoundError:
            return True

    def _write_durably(self, data: bytes) -> None:
        with file_lock(self._lock_fd, exclusive=False):
            if self._fd < 0 or self._replaced():
                self._reopen()
            if self._check_tail:
                # A crash or a failed write may have left a torn last line: end it, so
                # that only that line is lost, not also the first one appended now.
                size = os.fstat(self._fd).st_size
                if size and os.pread(self._fd, 1, size - 1) != b"\n":
                    data = b"\n" + data
                self._check_tail = False
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view) :]
                _sync(self._fd)
            except OSError:
                self._check_tail = True
                raise

    def append(self, data: bytes) -> None:
        """Append ``data`` (whole lines) and return once it is durable.

        Raises :class:`AuditWriteError` if it could not be written or synced.
        """
        if not data:
            return
        with self._cond:
            if self._closed:
                raise AuditWriteError()
            batch = self._open_batch
            batch.chunks.append(data)
            while not batch.done:
                if self._flushing:
                    self._cond.wait()
                    continue
                # Lead: sync the open batch (ours, plus whatever queued behind us).
                self._open_batch = _Batch()
                self._flushing = True
                self._cond.release()
                try:
                    self._write_durably(b"".join(batch.chunks))
                except Exception as exc:  # every waiter of the batch must learn of it
                    batch.error = exc
                    log.error(
                        "audit log write failed",
                        extra={"path": str(self.path), "error": type(exc).__name__},
                        exc_info=exc,
                    )
                finally:
                    self._cond.acquire()
                    batch.done = True
                    self._flushing = False
                    self._cond.notify_all()
        if batch.error is not None:
            raise AuditWriteError() from batch.error

    def __del__(self) -> None:
        # Servers stopped without shutdown() (tests) must not leak descriptors.
        for fd in (getattr(self, "_fd", -1), getattr(self, "_lock_fd", -1)):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def close(self) -> None:
        """Wait for the sync in progress, then close; later appends fail."""
        with self._cond:
            while self._flushing:
                self._cond.wait()
            self._closed = True
            for fd in (self._fd, self._lock_fd):
                if fd >= 0:
                    os.close(fd)
            self._fd = self._lock_fd = -1
