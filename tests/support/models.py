"""Tiny but real model versions for tests: sklearn/LightGBM models trained on random rows
of the right widths, exported to ONNX and described by a valid manifest.

``make_model_version(models_dir)`` writes ``models_dir/<version>/`` and points
``models_dir/current`` at it; transport and end-to-end tests reuse it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from modelio.context import (
    BASE_DEFAULTS,
    ESCALATION_CONVERSATION_INPUTS,
    ESCALATION_INPUTS,
    NBA_CONVERSATION_INPUTS,
    NBA_INPUTS,
    SEGMENT_INPUTS,
)
from modelio.manifest import (
    Manifest,
    ModelFile,
    SegmentName,
    set_current,
    sha256_file,
    write_manifest,
)
from modelio.policy import PolicyConfig
from modelio.vocab import ACTIONS, FEATURE_SERVICE
from training.export.graphs import register_lightgbm

SEGMENT_NAMES = ("budget_newcomers", "steady_regulars", "high_value_power_users")
_ROWS = 400


def _to_onnx(model: Any, width: int, classifier: bool) -> bytes:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    # classifiers: a plain (n, 2) "probabilities" tensor instead of a list of maps
    options = {id(model): {"zipmap": False}} if classifier else None
    onx = to_onnx(
        model,
        initial_types=[("input", FloatTensorType([None, width]))],
        options=options,
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    return onx.SerializeToString()


def segment_model(rng: np.random.Generator) -> bytes:
    from sklearn.cluster import KMeans

    x = rng.normal(size=(_ROWS, len(SEGMENT_INPUTS))).astype(np.float32)
    model = KMeans(n_clusters=len(SEGMENT_NAMES), n_init=2, random_state=0).fit(x)
    return _to_onnx(model, x.shape[1], classifier=False)


def escalation_model(
    rng: np.random.Generator, inputs: tuple[str, ...] = ESCALATION_INPUTS
) -> bytes:
    from sklearn.linear_model import LogisticRegression

    x = rng.normal(size=(_ROWS, len(inputs))).astype(np.float32)
    sentiment = inputs.index("sentiment")
    y = (x[:, sentiment] + 0.5 * rng.normal(size=_ROWS) < 0).astype(np.int64)
    model = LogisticRegression(max_iter=200).fit(x, y)
    return _to_onnx(model, x.shape[1], classifier=True)


def nba_model(rng: np.random.Generator, inputs: tuple[str, ...] = NBA_INPUTS) -> bytes:
    from lightgbm import LGBMClassifier

    register_lightgbm()
    x = rng.normal(size=(_ROWS * 2, len(inputs))).astype(np.float32)
    first_action = inputs.index(f"action_{ACTIONS[0]}")
    actions = rng.integers(0, len(ACTIONS), size=len(x))
    x[:, first_action:] = np.eye(len(ACTIONS), dtype=np.float32)[actions]
    y = ((actions % 3 == 0) ^ (rng.random(len(x)) < 0.2)).astype(np.int64)
    model = LGBMClassifier(n_estimators=15, num_leaves=7, min_child_samples=5, verbose=-1)
    model.fit(x, y)
    return _to_onnx(model, x.shape[1], classifier=True)


def make_model_version(
    models_dir: Path,
    version: str = "test-v1",
    policy: dict[str, Any] | None = None,
    seed: int = 0,
    conversation: bool = False,
) -> Path:
    """Train, export and register a model version; returns its directory. With
    ``conversation`` its escalation and next-best-action models also take the
    conversation inputs (the layout ``python -m training train`` writes by default)."""
    rng = np.random.default_rng(seed)
    escalation = ESCALATION_CONVERSATION_INPUTS if conversation else ESCALATION_INPUTS
    nba = NBA_CONVERSATION_INPUTS if conversation else NBA_INPUTS
    version_dir = models_dir / version
    version_dir.mkdir(parents=True, exist_ok=True)
    blobs: dict[Literal["segment", "escalation", "nba"], tuple[bytes, tuple[str, ...], str]] = {
        "segment": (segment_model(rng), SEGMENT_INPUTS, "label"),
        "escalation": (escalation_model(rng, escalation), escalation, "probabilities"),
        "nba": (nba_model(rng, nba), nba, "probabilities"),
    }
    models: dict[Literal["segment", "escalation", "nba"], ModelFile] = {}
    for kind, (blob, inputs, output) in blobs.items():
        path = version_dir / f"{kind}.onnx"
        path.write_bytes(blob)
        models[kind] = ModelFile(
            path=path.name, sha256=sha256_file(path), inputs=list(inputs), output=output
        )
    now = datetime.now(UTC)
    manifest = Manifest(
        version=version,
        feature_service=FEATURE_SERVICE,
        created_at=now,
        training_window={"start": now, "end": now},
        data_hash="synthetic-test-data",
        defaults=dict(BASE_DEFAULTS),
        models=models,
        segments=[SegmentName(id=i, name=n) for i, n in enumerate(SEGMENT_NAMES)],
        policy=PolicyConfig(**(policy or {})),
    )
    write_manifest(version_dir, manifest)
    set_current(models_dir, version)
    return version_dir


def with_policy(version_dir: Path, version: str, **policy: Any) -> Path:
    """A sibling version with the same ONNX files and a different policy (not current)."""
    from modelio.manifest import load_manifest

    manifest = load_manifest(version_dir)
    target = version_dir.parent / version
    target.mkdir(exist_ok=True)
    for model in manifest.models.values():
        (target / model.path).write_bytes((version_dir / model.path).read_bytes())
    update = {"version": version, "policy": manifest.policy.model_copy(update=policy)}
    write_manifest(target, manifest.model_copy(update=update))
    return target
