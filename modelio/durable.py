"""Durable edits of append-only files, shared by the service's logs and erasure.

The service appends (audit lines, decision logs) under a shared ``flock`` on a lock
file beside the log; erasure rewrites the log under the exclusive lock, atomically
(temp file, fsync, rename, fsync of the folder), so appends are neither lost nor see
a half-written file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


def lock_path(path: Path) -> Path:
    """The lock file guarding ``path`` against erasure while appending."""
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def file_lock(fd: int, exclusive: bool) -> Iterator[None]:
    fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def sync_dir(path: Path) -> None:
    """Make a created or renamed directory entry durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
