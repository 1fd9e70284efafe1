"""The model-version manifest: what training writes and the server loads.

``models/<version>/manifest.json`` names every ONNX file with its sha256 and ordered
inputs, the feature service the version was trained on, defaults for missing features,
segment names, the policy, the metrics and the training distributions
(:mod:`modelio.distributions`, read by the drift monitor). ``models/current`` is a
pointer file holding the version name (a plain file works on every filesystem and in
Docker volumes).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from modelio.context import (
    BASE_DEFAULTS,
    ESCALATION_CONVERSATION_INPUTS,
    ESCALATION_INPUTS,
    NBA_CONVERSATION_INPUTS,
    NBA_INPUTS,
    SEGMENT_INPUTS,
)
from modelio.distributions import TrainingDistributions
from modelio.policy import PolicyConfig

MANIFEST = "manifest.json"
CURRENT = "current"
EXPECTED_INPUTS: dict[str, tuple[str, ...]] = {
    "segment": SEGMENT_INPUTS,
    "escalation": ESCALATION_INPUTS,
    "nba": NBA_INPUTS,
}
#: The input layouts this code serves: without conversation state (every version before
#: it existed) and with it (``CONVERSATION_INPUTS`` after the turn's inputs).
INPUT_LAYOUTS: tuple[dict[str, tuple[str, ...]], ...] = (
    EXPECTED_INPUTS,
    {
        "segment": SEGMENT_INPUTS,
        "escalation": ESCALATION_CONVERSATION_INPUTS,
        "nba": NBA_CONVERSATION_INPUTS,
    },
)


class ManifestError(ValueError):
    """A model version is missing, corrupt, or does not match its manifest."""


class ModelFile(BaseModel):
    """One ONNX model: a float32 matrix ``input_name`` of shape (n, len(inputs))."""

    model_config = ConfigDict(extra="forbid")

    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    inputs: list[str] = Field(min_length=1)
    input_name: str = "input"
    output: str = Field(description="Output holding labels (segment) or P(class=1)")


class SegmentName(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=0)
    name: str = Field(min_length=1)
    size_share: float = 0.0
    centroid: dict[str, float] = Field(default_factory=dict)


class Manifest(BaseModel):
    """Schema of manifest.json (schema_version 1)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    version: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    feature_service: str
    created_at: datetime
    training_window: dict[str, datetime]
    data_hash: str
    defaults: dict[str, float]
    models: dict[Literal["segment", "escalation", "nba"], ModelFile]
    segments: list[SegmentName]
    policy: PolicyConfig
    metrics: dict[str, Any] = Field(default_factory=dict)
    distributions: TrainingDistributions = Field(
        default_factory=TrainingDistributions,
        description="training distributions of inputs, scores and actions (drift monitor);"
        " empty in manifests written before it existed",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        missing = set(EXPECTED_INPUTS) - set(self.models)
        if missing:
            raise ValueError(f"models missing: {sorted(missing)}")
        got = {kind: tuple(model.inputs) for kind, model in self.models.items()}
        if not any(got == layout for layout in INPUT_LAYOUTS):
            for kind, names in got.items():
                if all(names != layout[kind] for layout in INPUT_LAYOUTS):
                    raise ValueError(
                        f"models.{kind}.inputs do not match this code's {kind} inputs"
                        f" (got {len(names)} names, expected"
                        f" {' or '.join(str(len(layout[kind])) for layout in INPUT_LAYOUTS)})"
                    )
            raise ValueError("models' inputs mix layouts (with and without conversation state)")
        undefaulted = set(BASE_DEFAULTS) - set(self.defaults)
        if undefaulted:
            raise ValueError(f"defaults missing for {sorted(undefaulted)}")
        return self


def uses_conversation(manifest: Manifest) -> bool:
    """Whether the version's models take the conversation state's inputs."""
    return tuple(manifest.models["escalation"].inputs) == ESCALATION_CONVERSATION_INPUTS


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(version_dir: Path, verify: bool = True) -> Manifest:
    """Read and validate ``version_dir/manifest.json``; check every file's sha256."""
    path = version_dir / MANIFEST
    if not path.is_file():
        raise ManifestError(f"{path}: no manifest (train a model: python -m training train)")
    try:
        manifest = Manifest.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise ManifestError(f"{path}: invalid manifest: {exc}") from exc
    if verify:
        for kind, model in manifest.models.items():
            file = version_dir / model.path
            if not file.is_file():
                raise ManifestError(f"{file}: {kind} model file is missing")
            actual = sha256_file(file)
            if actual != model.sha256:
                raise ManifestError(
                    f"{file}: sha256 {actual[:12]}… does not match the manifest's"
                    f" {model.sha256[:12]}… (corrupt or replaced file)"
                )
    return manifest


def write_manifest(version_dir: Path, manifest: Manifest) -> Path:
    path = version_dir / MANIFEST
    path.write_text(manifest.model_dump_json(indent=2) + "\n")
    return path


def current_version_dir(models_dir: Path) -> Path:
    """The version ``models/current`` points at (pointer file or symlink)."""
    pointer = models_dir / CURRENT
    if pointer.is_symlink() or pointer.is_dir():
        return pointer.resolve()
    if not pointer.is_file():
        raise ManifestError(f"{pointer}: no current model version (python -m training train)")
    name = pointer.read_text().strip()
    if not name or "/" in name or name.startswith("."):
        raise ManifestError(f"{pointer}: invalid version name {name!r}")
    return models_dir / name


def set_current(models_dir: Path, version: str) -> None:
    """Point ``models/current`` at ``version`` atomically (write + rename)."""
    tmp = models_dir / f".{CURRENT}.tmp"
    tmp.write_text(version + "\n")
    tmp.replace(models_dir / CURRENT)
