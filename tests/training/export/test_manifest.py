"""A model version is loaded only if its manifest is valid and matches its files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from modelio.context import (
    BASE_DEFAULTS,
    ESCALATION_CONVERSATION_INPUTS,
    ESCALATION_INPUTS,
    NBA_CONVERSATION_INPUTS,
    NBA_INPUTS,
    SEGMENT_INPUTS,
)
from modelio.manifest import (
    MANIFEST,
    ManifestError,
    current_version_dir,
    load_manifest,
    set_current,
    uses_conversation,
)
from modelio.vocab import FEATURE_SERVICE
from training.export.graphs import load_policy

from ..conftest import VERSION, Trained


@pytest.fixture
def version_copy(trained: Trained, tmp_path: Path) -> Path:
    """A private copy of the trained version that a test may damage."""
    return Path(shutil.copytree(trained.result.version_dir, tmp_path / VERSION))


def _edit(version_dir: Path, change) -> None:
    path = version_dir / MANIFEST
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_trained_manifest_loads_and_describes_the_version(trained: Trained) -> None:
    manifest = load_manifest(trained.result.version_dir)
    assert manifest.version == VERSION
    assert manifest.feature_service == FEATURE_SERVICE
    assert manifest.models["segment"].inputs == list(SEGMENT_INPUTS)
    # the default layout: the turn's inputs, then the conversation state's
    assert manifest.models["escalation"].inputs == list(ESCALATION_CONVERSATION_INPUTS)
    assert manifest.models["nba"].inputs == list(NBA_CONVERSATION_INPUTS)
    assert uses_conversation(manifest) and manifest.metrics["conversation_features"]
    assert {m.output for m in manifest.models.values()} == {"label", "probability"}
    assert set(manifest.defaults) == set(BASE_DEFAULTS)
    assert manifest.defaults == trained.result.defaults
    assert manifest.policy == load_policy()
    assert len(manifest.data_hash) == 64
    window = manifest.training_window
    assert window["start"] < window["validation_start"] < window["test_start"] <= window["end"]
    names = [s.name for s in manifest.segments]
    assert len(names) == len(set(names)) == manifest.metrics["segment"]["k"]
    assert {"escalation", "segment", "nba"} <= set(manifest.metrics)


def test_current_points_at_the_trained_version(trained: Trained) -> None:
    assert current_version_dir(trained.models_dir) == trained.models_dir / VERSION


def test_corrupted_model_file_is_refused(version_copy: Path) -> None:
    path = version_copy / "escalation.onnx"
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(ManifestError, match=r"sha256 .* does not match"):
        load_manifest(version_copy)


def test_missing_model_file_is_refused(version_copy: Path) -> None:
    (version_copy / "nba.onnx").unlink()
    with pytest.raises(ManifestError, match="nba model file is missing"):
        load_manifest(version_copy)


def test_bad_json_is_refused(version_copy: Path) -> None:
    (version_copy / MANIFEST).write_text('{"version": "x", ')
    with pytest.raises(ManifestError, match="invalid manifest"):
        load_manifest(version_copy)


def test_missing_manifest_is_refused(version_copy: Path) -> None:
    (version_copy / MANIFEST).unlink()
    with pytest.raises(ManifestError, match="no manifest"):
        load_manifest(version_copy)


def test_wrong_inputs_are_refused(version_copy: Path) -> None:
    def swap(data: dict) -> None:
        inputs = data["models"]["escalation"]["inputs"]
        inputs[0], inputs[1] = inputs[1], inputs[0]

    _edit(version_copy, swap)
    with pytest.raises(ManifestError, match=r"escalation\.inputs do not match"):
        load_manifest(version_copy)


def test_dropped_input_is_refused(version_copy: Path) -> None:
    _edit(version_copy, lambda d: d["models"]["nba"]["inputs"].pop())
    with pytest.raises(ManifestError, match=r"nba\.inputs do not match"):
        load_manifest(version_copy)


def test_missing_model_entry_is_refused(version_copy: Path) -> None:
    _edit(version_copy, lambda d: d["models"].pop("segment"))
    with pytest.raises(ManifestError, match="models missing"):
        load_manifest(version_copy)


def test_missing_default_is_refused(version_copy: Path) -> None:
    _edit(version_copy, lambda d: d["defaults"].pop("last_csat"))
    with pytest.raises(ManifestError, match="defaults missing"):
        load_manifest(version_copy)


def test_unknown_field_is_refused(version_copy: Path) -> None:
    _edit(version_copy, lambda d: d.update(surprise=1))
    with pytest.raises(ManifestError, match="invalid manifest"):
        load_manifest(version_copy)


def test_edited_segment_names_load(version_copy: Path) -> None:
    _edit(version_copy, lambda d: d["segments"][0].update(name="vip_custom_name"))
    assert load_manifest(version_copy).segments[0].name == "vip_custom_name"


def test_invalid_current_pointer_is_refused(tmp_path: Path) -> None:
    (tmp_path / "current").write_text("../elsewhere\n")
    with pytest.raises(ManifestError, match="invalid version name"):
        current_version_dir(tmp_path)


def test_set_current_switches_versions(version_copy: Path) -> None:
    set_current(version_copy.parent, VERSION)
    assert current_version_dir(version_copy.parent) == version_copy


def test_a_manifest_without_conversation_inputs_still_loads(version_copy: Path) -> None:
    """Versions trained before the conversation state (or --no-conversation-features)."""

    def old_layout(data: dict) -> None:
        data["models"]["escalation"]["inputs"] = list(ESCALATION_INPUTS)
        data["models"]["nba"]["inputs"] = list(NBA_INPUTS)

    _edit(version_copy, old_layout)
    manifest = load_manifest(version_copy)
    assert manifest.models["nba"].inputs == list(NBA_INPUTS) and not uses_conversation(manifest)


def test_mixed_layouts_are_refused(version_copy: Path) -> None:
    _edit(version_copy, lambda d: d["models"]["nba"].update(inputs=list(NBA_INPUTS)))
    with pytest.raises(ManifestError, match="mix layouts"):
        load_manifest(version_copy)
