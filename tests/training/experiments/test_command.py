"""``python -m training experiment-report`` end to end on a small synthetic log."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.experiment_logs import now_after, write_experiment
from training.__main__ import main

DAYS, PER_DAY = 7, 300
RATES = {"control": 0.30, "treatment": 0.38}  # true lift 0.08
TRUE_LIFT = RATES["treatment"] - RATES["control"]


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    logs = tmp_path_factory.mktemp("experiment") / "logs"
    write_experiment(logs, RATES, dict.fromkeys(RATES, PER_DAY), DAYS, seed=2026)
    return logs


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["experiment-report", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_report_end_to_end(
    log_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    code, stdout, _ = _run(capsys, "--log-dir", str(log_dir), "--out", str(out), "--json",
                           "--now", now_after(DAYS), "--shadow", "v-missing")  # fmt: skip
    assert code == 0
    report = json.loads(stdout)
    assert {"arms", "lift", "srm", "sequential", "sample_size"} <= set(report)
    assert set(report["arms"]) == set(RATES) and report["control"] == "control"
    for arm in RATES:
        a = report["arms"][arm]
        assert a["decisions"] == DAYS * PER_DAY == a["rewarded"]
        assert 0 < a["matched"] < a["decisions"]
        lo, hi = a["mean_reward_ci"]
        assert lo < a["mean_reward"] < hi
        assert a["escalation_rate_ci"][0] < a["escalation_rate"] < a["escalation_rate_ci"][1]
    lift = report["lift"]["treatment"]
    assert lift["difference_ci"][0] < TRUE_LIFT < lift["difference_ci"][1]
    assert lift["always_valid_ci"][0] < TRUE_LIFT < lift["always_valid_ci"][1]
    assert lift["always_valid_ci"][0] <= lift["difference_ci"][0]  # the price of peeking
    assert lift["relative_ci"][0] < TRUE_LIFT / RATES["control"] < lift["relative_ci"][1]
    assert not report["srm"]["mismatch"]
    seq = report["sequential"]
    assert len(seq["days"]) == DAYS and len(seq["lift"]["treatment"]["p_value"]) == DAYS
    size = report["sample_size"]["treatment"]
    assert size["fixed_horizon_n_per_arm"] < size["sequential_n_per_arm"]
    assert report["shadow"]["v-missing"]["skipped"].startswith("no model version")
    for name in ("experiment.md", "experiment.json", "reward_over_time.png", "lift_over_time.png"):
        assert (out / name).is_file(), name
    for png in ("reward_over_time.png", "lift_over_time.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "experiment.md").read_text()
    headings = ("## Arms", "## Lift over control", "## Sample-ratio mismatch", "## Sample size")
    for heading in (*headings, "## Sequential analysis by day", "lift_over_time.png"):
        assert heading in md


def test_broken_split_is_flagged_in_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = tmp_path / "logs"
    write_experiment(logs, {"a": 0.3, "b": 0.3}, {"a": 550, "b": 450}, 2, seed=1)
    code, stdout, _ = _run(capsys, "--log-dir", str(logs), "--out", str(tmp_path / "r"),
                           "--json", "--now", now_after(2))  # fmt: skip
    report = json.loads(stdout)
    assert code == 0 and report["control"] == "a"
    assert report["srm"]["mismatch"] and report["srm"]["p_value"] < 1e-3
    assert "Sample-ratio mismatch** (p =" in (tmp_path / "r" / "experiment.md").read_text()
    # the intended 55/45 split given as weights: no mismatch
    code, stdout, _ = _run(capsys, "--log-dir", str(logs), "--out", str(tmp_path / "r"),
                           "--json", "--now", now_after(2), "--weights", "a=55,b=45")  # fmt: skip
    assert code == 0 and not json.loads(stdout)["srm"]["mismatch"]


def test_missing_log_dir_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "--log-dir", str(tmp_path / "nope"))
    assert code == 2 and "no log folder" in err


def test_arms_without_decisions(
    log_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ("--log-dir", str(log_dir), "--out", str(tmp_path / "r"), "--now", now_after(DAYS))
    code, _, err = _run(capsys, *base, "--control", "ctrl")
    assert code == 2
    assert "arm 'ctrl' has no decisions" in err and "control, treatment" in err
    code, stdout, err = _run(capsys, *base, "--json", "--weights", "control=1,treatment=1,c=1")
    assert code == 0 and "arm 'c' has no decisions" in err
    srm = json.loads(stdout)["srm"]
    assert srm["observed"]["c"] == 0 and srm["mismatch"]
    code, _, err = _run(capsys, *base, "--weights", "control=1")
    assert code == 2 and "at least two arms" in err


def test_unanalysable_logs_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logs = tmp_path / "logs"
    write_experiment(logs, {"solo": 0.3}, {"solo": 20}, 1, seed=1)
    code, _, err = _run(capsys, "--log-dir", str(logs), "--now", now_after(1))
    assert code == 1 and "only one arm" in err
    (tmp_path / "empty").mkdir()
    code, _, err = _run(capsys, "--log-dir", str(tmp_path / "empty"))
    assert code == 1 and "no decisions with an experiment arm" in err
    fresh = tmp_path / "fresh"
    write_experiment(fresh, {"a": 0.3, "b": 0.3}, {"a": 20, "b": 20}, 1, seed=2)
    shutil.rmtree(fresh / "outcomes")  # no outcome yet, and the reward wait not over
    code, _, err = _run(capsys, "--log-dir", str(fresh), "--now", "2026-03-02T12:00:00Z")
    assert code == 1 and "rewarded decisions" in err  # every outcome still pending
