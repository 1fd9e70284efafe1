"""Model versions for experiment tests: clones of the session's ``test-v1`` with other
policies (``with_policy``), so arms answer differently without training anything.

``v1`` has the default policy, ``v2`` explores uniformly (epsilon 1), ``v3`` (epsilon
0.5) serves as the shadow, ``bad`` has a corrupt ``nba.onnx``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from modelio.experiment import Experiment
from modelio.manifest import load_manifest, set_current, write_manifest
from tests.support.models import with_policy

VERSIONS = ("v1", "v2", "v3", "bad")


def experiment_versions(model_dir: Path, root: Path) -> Path:
    """Write v1, v2, v3 and bad into ``root`` (current: v1); returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    v1 = root / "v1"
    shutil.copytree(model_dir / "test-v1", v1)
    write_manifest(v1, load_manifest(v1).model_copy(update={"version": "v1"}))
    with_policy(v1, "v2", epsilon=1.0)
    with_policy(v1, "v3", epsilon=0.5)
    bad = with_policy(v1, "bad", epsilon=0.2)
    blob = bytearray((bad / "nba.onnx").read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (bad / "nba.onnx").write_bytes(bytes(blob))
    set_current(root, "v1")
    return root


def linked_models(source: Path, root: Path) -> Path:
    """A models dir whose versions are symlinks to ``source``'s (cheap, per test)."""
    root.mkdir(parents=True, exist_ok=True)
    for version in VERSIONS:
        (root / version).symlink_to(source / version, target_is_directory=True)
    set_current(root, "v1")
    return root


def experiment(**update: Any) -> Experiment:
    """control (v1, weight 3) and explore (v2, weight 1); keyword arguments override."""
    data: dict[str, Any] = {
        "name": "exp",
        "salt": "salt-1",
        "arms": [
            {"name": "control", "version": "v1", "weight": 3, "control": True},
            {"name": "explore", "version": "v2", "weight": 1},
        ],
    }
    data.update(update)
    return Experiment.model_validate(data)
