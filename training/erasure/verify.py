"""After erasing: search the raw bytes of files for ids left behind.

A safety net for places the other steps do not know (a CSV dropped in the data
folder, a log nobody passed). Compressed parquet pages can hide a string, so a clean
result is evidence, not proof; the per-store steps are what erase. Ids shorter than
:data:`MIN_ID_BYTES` are not searched (they would match random bytes).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

MIN_ID_BYTES = 6
_CHUNK = 1 << 20


def files_under(paths: Iterable[Path]) -> list[Path]:
    """Regular files: the paths themselves, and everything below folders."""
    out: set[Path] = set()
    for path in paths:
        if path.is_dir():
            out.update(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            out.add(path)
    return sorted(out)


def find_ids(files: Iterable[Path], customer_ids: Sequence[str]) -> dict[str, list[Path]]:
    """``{customer_id: [files whose bytes contain its UTF-8 encoding]}`` (hits only)."""
    needles = {cid: cid.encode("utf-8") for cid in customer_ids}
    needles = {cid: b for cid, b in needles.items() if len(b) >= MIN_ID_BYTES}
    if not needles:
        return {}
    overlap = max(len(b) for b in needles.values()) - 1
    hits: dict[str, list[Path]] = {}
    for path in files:
        found: set[str] = set()
        try:
            with open(path, "rb") as fh:
                tail = b""
                while len(found) < len(needles):
                    chunk = fh.read(_CHUNK)
                    if not chunk:
                        break
                    window = tail + chunk
                    found.update(c for c, b in needles.items() if c not in found and b in window)
                    tail = window[-overlap:] if overlap else b""
        except OSError:
            continue
        for cid in found:
            hits.setdefault(cid, []).append(path)
    return hits
