"""Fixtures of this folder: a throwaway ``models/`` directory of good and broken versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelio.manifest import set_current
from tests.support.model_versions import clone, edit_manifest, flip_byte, garbage_rehashed


def _wrong_input(m: dict[str, Any]) -> None:
    m["models"]["escalation"]["inputs"][0] = "bogus_input"


@pytest.fixture
def models(model_dir: Path, tmp_path: Path) -> Path:
    """``v1`` (current), ``v2`` and broken versions, each a clone of ``test-v1``."""
    root = tmp_path / "models"
    root.mkdir()
    source = model_dir / "test-v1"
    clone(root, source, "v1")
    clone(root, source, "v2")
    flip_byte(clone(root, source, "bad-sha") / "escalation.onnx")
    edit_manifest(clone(root, source, "bad-inputs"), _wrong_input)
    clone(root, source, "bad-service", feature_service="another_service")
    garbage_rehashed(clone(root, source, "bad-onnx"))
    set_current(root, "v1")
    return root
