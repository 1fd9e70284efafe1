"""``python -m training compare-conversation`` on the small simulation: the report's
structure, the PNG next to the JSON, and that the conversation features help against
the simulator's truth where the state exists (the later turns of a conversation).

The figures at a realistic size (20,000 customers) are in docs/training.md."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from typing import Any

import pytest

from modelio.conversation import CONVERSATION_INPUTS
from training.__main__ import main

from .conftest import Trained


@pytest.fixture(scope="module")
def report(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("compare") / "conversation.json"
    printed = io.StringIO()
    with redirect_stdout(printed):
        code = main(
            [
                "compare-conversation",
                "--data-dir",
                str(trained.data_dir),
                "--repo",
                str(trained.repo),
                "--out",
                str(out),
                "--resamples",
                "100",
            ]
        )
    assert code == 0
    result = json.loads(out.read_text())
    assert json.loads(printed.getvalue()) == result
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    return result


def test_report_structure(report: dict[str, Any]) -> None:
    assert report["conversation_inputs"] == list(CONVERSATION_INPUTS)
    assert set(report["reward_model"]) == {"with", "without"}
    for part in ("all_turns", "later_turns"):
        section = report[part]
        assert {"escalation_oracle_auc", "nba_oracle_value", "nba_logging_value"} <= set(
            section["truth"]
        )
        for model, keys in (
            ("escalation", {"escalation_auc", "escalation_logloss_vs_truth"}),
            ("nba", {"nba_true_value"}),
        ):
            figures = section[model]
            assert figures["n"] > 100
            assert keys <= set(figures["with"]) and keys <= set(figures["without"])
            for key, diff in figures["difference"].items():
                lo, hi = diff["ci95"]
                assert lo <= diff["estimate"] <= hi, key
    assert report["later_turns"]["nba"]["n"] < report["all_turns"]["nba"]["n"]


def test_conversation_features_help_on_later_turns(report: dict[str, Any]) -> None:
    later = report["later_turns"]
    assert later["escalation"]["difference"]["escalation_logloss_vs_truth"]["ci95"][1] < 0
    assert later["escalation"]["difference"]["escalation_mse_vs_truth"]["ci95"][1] < 0
    assert later["nba"]["difference"]["nba_true_value"]["estimate"] > 0
