"""Shadow rows of an experiment (arm ``shadow:<version>``) stay out of the feedback join."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from modelio.logrecords import DECISIONS, OUTCOMES, read_log, served_only
from modelio.reward import RewardConfig
from tests.support.decision_logs import T0, decision, outcome, write_part
from training.feedback.join import join_logs

CONFIG = RewardConfig(wait_s=3600, default_reward=-0.25, escalated_reward=-1.0, csat_weight=0.5)


def test_shadow_rows_are_neither_decisions_nor_dataset_rows(tmp_path: Path) -> None:
    served = [{**decision("d1"), "arm": "control"}, {**decision("d2"), "arm": "canary"}]
    shadows = [
        {**decision(f"{d}:shadow:v3", model_version="v3"), "arm": "shadow:v3"} for d in ("d1", "d2")
    ]
    write_part(tmp_path, DECISIONS, [*served, *shadows], "part-a")
    write_part(tmp_path, OUTCOMES, [outcome("d1", T0 + timedelta(minutes=1))], "part-a")
    decisions = read_log(tmp_path, DECISIONS)
    assert served_only(decisions).column("decision_id").to_pylist() == ["d1", "d2"]
    result = join_logs(
        decisions, read_log(tmp_path, OUTCOMES), lambda _: CONFIG, T0 + timedelta(days=1)
    )
    assert result.counts.decisions == 2 and result.counts.matched == 1
    assert result.dataset.column("arm").to_pylist() == ["control", "canary"]
