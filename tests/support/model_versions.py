"""Throwaway model versions for reload tests: clones of a trained version with another
manifest version, and ways to break one (a flipped byte, an edited manifest, garbage ONNX)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelio.manifest import load_manifest, sha256_file, write_manifest


def clone(models: Path, source: Path, version: str, **update: Any) -> Path:
    """Copy ``source`` to ``models/version`` with the manifest's version (and ``update``)."""
    target = models / version
    shutil.copytree(source, target)
    manifest = load_manifest(target)
    write_manifest(target, manifest.model_copy(update={"version": version, **update}))
    return target


def edit_manifest(version_dir: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = version_dir / "manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def flip_byte(path: Path) -> None:
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))


def garbage_rehashed(version_dir: Path) -> None:
    """An nba.onnx that is not ONNX, with a manifest sha256 that matches it."""
    (version_dir / "nba.onnx").write_bytes(b"not an onnx model")
    digest = sha256_file(version_dir / "nba.onnx")
    edit_manifest(version_dir, lambda m: m["models"]["nba"].update(sha256=digest))
