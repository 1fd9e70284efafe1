"""ModelRunner: loads a verified version, runs the three models, refuses broken ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from modelio.context import ESCALATION_INPUTS, NBA_INPUTS, SEGMENT_INPUTS
from modelio.manifest import load_manifest, sha256_file, write_manifest
from server.errors import ModelLoadError
from server.models.runner import ModelRunner


@pytest.fixture
def version_copy(model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the test version that a test may damage."""
    target = tmp_path / "models"
    shutil.copytree(model_dir, target)
    return target


def test_loads_current_and_predicts(model_dir: Path) -> None:
    runner = ModelRunner.load(model_dir)
    assert runner.version == "test-v1"
    rng = np.random.default_rng(0)
    for kind, inputs in (
        ("segment", SEGMENT_INPUTS),
        ("escalation", ESCALATION_INPUTS),
        ("nba", NBA_INPUTS),
    ):
        assert runner.width(kind) == len(inputs)  # type: ignore[arg-type]
        out = getattr(runner, kind)(rng.normal(size=(9, len(inputs))).astype(np.float32))
        assert out.shape == (9,)
    labels = runner.segment(np.zeros((3, len(SEGMENT_INPUTS)), np.float32))
    assert labels.dtype == np.int64
    assert set(labels) <= {s.id for s in runner.manifest.segments}
    probs = runner.nba(rng.normal(size=(70, len(NBA_INPUTS))).astype(np.float32))
    assert ((probs >= 0) & (probs <= 1)).all() and probs.std() > 0


def test_sessions_are_single_threaded(model_dir: Path) -> None:
    runner = ModelRunner.load(model_dir)
    options = runner._models["nba"].session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)


def test_refuses_a_corrupted_model(version_copy: Path) -> None:
    path = version_copy / "test-v1" / "nba.onnx"
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelLoadError, match=r"nba\.onnx: sha256 .* does not match"):
        ModelRunner.load(version_copy)


def test_refuses_a_missing_model(version_copy: Path) -> None:
    (version_copy / "test-v1" / "escalation.onnx").unlink()
    with pytest.raises(ModelLoadError, match=r"escalation\.onnx: escalation model file is missing"):
        ModelRunner.load(version_copy)


def test_refuses_a_missing_version(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"current: no current model version"):
        ModelRunner.load(tmp_path)
    (tmp_path / "current").write_text("v-gone\n")
    with pytest.raises(ModelLoadError, match=r"v-gone/manifest\.json: no manifest"):
        ModelRunner.load(tmp_path)


def test_refuses_an_unloadable_file_with_a_matching_sha(version_copy: Path) -> None:
    """Right checksum, wrong content (e.g. a manifest rewritten by hand): ORT rejects it."""
    version = version_copy / "test-v1"
    (version / "segment.onnx").write_bytes(b"not an onnx model")
    manifest = load_manifest(version, verify=False)
    manifest.models["segment"].sha256 = sha256_file(version / "segment.onnx")
    write_manifest(version, manifest)
    with pytest.raises(ModelLoadError, match=r"segment\.onnx: cannot load the segment model"):
        ModelRunner.load(version_copy)


def test_refuses_a_wrong_output_name(version_copy: Path) -> None:
    version = version_copy / "test-v1"
    manifest = load_manifest(version, verify=False)
    manifest.models["escalation"].output = "proba"
    write_manifest(version, manifest)
    with pytest.raises(ModelLoadError, match=r"escalation model has no output 'proba'"):
        ModelRunner.load(version_copy)


def test_one_row_alone_equals_its_row_in_a_batch(model_dir: Path) -> None:
    """The engine promises decide(req) == decide_batch([..., req, ...]) exactly."""
    runner = ModelRunner.load(model_dir)
    rng = np.random.default_rng(3)
    for kind in ("segment", "escalation", "nba"):
        matrix = rng.normal(size=(40, runner.width(kind))).astype(np.float32)
        batch = getattr(runner, kind)(matrix)
        alone = np.concatenate([getattr(runner, kind)(matrix[i : i + 1]) for i in range(40)])
        assert (batch == alone).all(), kind


@pytest.mark.parametrize("rows", [1, 2, 7, 64])
def test_the_combined_graph_answers_exactly_like_the_three_models(
    model_dir: Path, rows: int
) -> None:
    runner = ModelRunner.load(model_dir)
    rng = np.random.default_rng(rows)
    segment = rng.normal(size=(rows, len(SEGMENT_INPUTS))).astype(np.float32)
    escalation = rng.normal(size=(rows, len(ESCALATION_INPUTS))).astype(np.float32)
    nba = rng.normal(size=(rows * 7, len(NBA_INPUTS))).astype(np.float32)
    labels, risks, scores = runner.run_all(segment, escalation, nba)
    assert np.array_equal(labels, runner.segment(segment))
    assert np.array_equal(risks, runner.escalation(escalation))
    assert np.array_equal(scores, runner.nba(nba))
    assert (labels.dtype, risks.shape, scores.shape) == (np.int64, (rows,), (rows * 7,))
