"""End to end on a small simulation (2,500 customers, see conftest.py): Feast joins, three
models, ONNX export, manifest, model card, ``models/current`` and ``evaluate``.

Thresholds asserted here are looser than the 20k-customer acceptance targets
(docs/training.md) because the small test split is noisy: escalation AUC within 0.03 of
the oracle AUC and ECE ≤ 0.06; segment ARI ≥ 0.35; learned policy's true value ≥ 1.2 x
the logging policy's and ≥ 0.7 x the oracle's; DR within 15 % of the true value.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import re
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from modelio.context import BASE_DEFAULTS
from modelio.manifest import load_manifest
from training import pipeline
from training.__main__ import main
from training.commands import evaluate, train
from training.data.inputs import training_defaults
from training.export.card import PLOTS
from training.progress import Progress

from .conftest import VERSION, Trained


@pytest.fixture(scope="module")
def evaluated(trained: Trained) -> dict[str, Any]:
    """``python -m training evaluate --json`` on the trained version (ONNX, rebuilt holdout)."""
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(
            [
                "evaluate",
                "--json",
                "--models-dir",
                str(trained.models_dir),
                "--data-dir",
                str(trained.data_dir),
                "--repo",
                str(trained.repo),
            ]
        )
    assert code == 0
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1, "evaluate --json prints exactly one JSON object"
    return json.loads(lines[0])


def test_version_folder_has_models_manifest_card_and_plots(trained: Trained) -> None:
    version_dir = trained.result.version_dir
    assert version_dir == trained.models_dir / VERSION
    for name in (
        "segment.onnx",
        "escalation.onnx",
        "nba.onnx",
        "manifest.json",
        "MODEL_CARD.md",
        *PLOTS.values(),
    ):
        assert (version_dir / name).is_file(), name
    for png in PLOTS.values():
        assert (version_dir / png).read_bytes()[:4] == b"\x89PNG"
    assert (trained.models_dir / "current").read_text().strip() == VERSION


def test_model_card_shows_metrics_segments_and_plots(trained: Trained) -> None:
    card = (trained.result.version_dir / "MODEL_CARD.md").read_text()
    manifest = load_manifest(trained.result.version_dir)
    assert VERSION in card
    for png in PLOTS.values():
        assert f"({png})" in card
    for segment in manifest.segments:
        assert segment.name in card
    assert "true_value_oracle" in card and "oracle_auc" in card


def test_quality_on_the_small_simulation(trained: Trained) -> None:
    m = load_manifest(trained.result.version_dir).metrics
    esc, seg, nba = m["escalation"], m["segment"], m["nba"]
    assert esc["auc"] >= esc["oracle_auc"] - 0.03, esc
    assert esc["ece"] <= 0.06, esc
    assert 3 <= seg["k"] <= 9 and seg["ari"] >= 0.35, seg
    assert set(seg["silhouette_curve"]) == {str(k) for k in range(3, 10)}
    assert nba["true_value_learned"] >= 1.2 * nba["true_value_logging"], nba
    assert nba["true_value_learned"] >= 0.7 * nba["true_value_oracle"], nba
    assert abs(nba["dr"] - nba["true_value_learned"]) <= 0.15 * nba["true_value_learned"], nba
    assert m["parity"]["segment_label_mismatches"] == 0
    assert m["resources"]["peak_rss_mib"] > 0 and len(m["timings_seconds"]) == 7


def test_evaluate_json_reproduces_training_metrics(
    trained: Trained, evaluated: dict[str, Any]
) -> None:
    required = {
        "escalation": {"auc", "oracle_auc", "ece", "brier"},
        "segment": {"k", "silhouette", "ari"},
        "nba": {
            "true_value_learned",
            "true_value_logging",
            "true_value_oracle",
            "ips",
            "snips",
            "dr",
        },
    }
    stored = load_manifest(trained.result.version_dir).metrics
    assert evaluated["version"] == VERSION and evaluated["same_data_as_training"]
    for section, keys in required.items():
        assert keys <= set(evaluated[section]), section
        for key in keys:
            assert math.isclose(evaluated[section][key], stored[section][key], abs_tol=1e-3), (
                section,
                key,
            )


def test_evaluate_table_is_readable(evaluated: dict[str, Any]) -> None:
    table = evaluate.render(evaluated)
    assert table.splitlines()[0] == f"model version {VERSION}"
    assert re.search(r"^\s+auc\s+0\.\d{4}$", table, re.MULTILINE)


def test_training_defaults_are_medians_of_present_values() -> None:
    now = pd.Timestamp("2026-01-10", tz="UTC")
    frame = pd.DataFrame(
        {
            "event_timestamp": [now] * 4,
            "personalization_consent": [True, True, True, False],
            "monthly_spend": [10.0, 30.0, None, 1000.0],  # the non-consenting 1000 is not used
            "last_csat": [5.0, None, None, 1.0],
            "plan_tier": ["free", "plus", "premium", "basic"],
        }
    )
    defaults = training_defaults(frame)
    assert set(defaults) == set(BASE_DEFAULTS)
    assert defaults["monthly_spend"] == 20.0
    assert defaults["last_csat"] == 3.0  # median of 5 and 1 (history ignores consent)
    assert defaults["plan_tier_rank"] == 2.0
    assert defaults["sessions_28d" if "sessions_28d" in defaults else "log_sessions_28d"] == 0.0


def test_version_name_format() -> None:
    name = pipeline.version_name(datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC))
    assert name == "personalization_v1-20260304T050607Z"


def test_progress_prints_timed_stage_lines() -> None:
    stream = io.StringIO()
    progress = Progress("train", 2, stream)
    with progress.stage("first"):
        pass
    usage = progress.finish()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[train] 1/2 first …"
    assert re.match(r"\[train\] 1/2 first: done in \d+\.\ds \(rss \d+ MiB\)", lines[1])
    assert usage["peak_rss_mib"] > 0


def test_train_refuses_a_folder_without_data(tmp_path: Path) -> None:
    args = argparse.Namespace(
        data_dir=tmp_path,
        repo=tmp_path,
        models_dir=tmp_path / "models",
        version=None,
        seed=1,
        online_store="sqlite",
    )
    assert train.run(args) == 1
