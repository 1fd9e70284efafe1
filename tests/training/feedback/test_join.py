"""The feedback join: every case (matched, unmatched, duplicate, late, defaulted, pending)
appears a known number of times in a hand-built log; rewards follow modelio.reward."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from modelio.logrecords import DECISIONS, OUTCOMES, read_log
from modelio.reward import RewardConfig, reward_of
from tests.support.decision_logs import T0, decision, outcome, write_part
from training.commands import feedback
from training.feedback.join import join_logs

NOW = T0 + timedelta(days=1)
CONFIG = RewardConfig(wait_s=3600, default_reward=-0.25, escalated_reward=-1.0, csat_weight=0.5)


def _write_log(log_dir: Path) -> None:
    young = NOW - timedelta(minutes=10)
    write_part(
        log_dir,
        DECISIONS,
        [
            decision("m1", customer_id="C1"),
            decision("m2", customer_id="C2"),
            decision("m3", customer_id="C3"),
            decision("l1", customer_id="C4"),
            decision("d1", customer_id="C5"),
            decision("d2", customer_id="C6"),
        ],
        "part-a",
    )
    # A re-drained part: m1 again (duplicate), plus two young decisions.
    write_part(
        log_dir,
        DECISIONS,
        [decision("m1", customer_id="C1"), decision("m4", ts=young), decision("p1", ts=young)],
        "part-b",
    )
    minute = timedelta(minutes=1)
    write_part(
        log_dir,
        OUTCOMES,
        [
            outcome("m1", T0 + minute, resolved=True, csat=5),
            outcome("m2", T0 + 30 * minute, resolved=True, escalated=True),
            # The same outcome again, received later and different: the first one wins.
            outcome("m2", T0 + 31 * minute, resolved=True, received_at=T0 + 40 * minute),
            outcome("m3", T0 + 59 * minute, resolved=False, csat=2),
            outcome("l1", T0 + 61 * minute, resolved=True),  # after wait_s: late
            outcome("ghost-1", T0 + minute),
            outcome("ghost-2", T0 + minute),
        ],
        "part-a",
    )
    write_part(log_dir, OUTCOMES, [outcome("m4", young + minute, resolved=True)], "part-b")


def test_counts_and_rewards(tmp_path: Path) -> None:
    _write_log(tmp_path)
    result = join_logs(
        read_log(tmp_path, DECISIONS), read_log(tmp_path, OUTCOMES), lambda _: CONFIG, NOW
    )
    assert result.counts.as_dict() == {
        "decisions": 8,
        "outcomes": 8,
        "matched": 4,
        "unmatched": 2,
        "duplicates": 2,
        "duplicate_decisions": 1,
        "duplicate_outcomes": 1,
        "late": 1,
        "defaulted": 3,
        "pending": 1,
    }
    rows = {r["decision_id"]: r for r in result.dataset.to_pylist()}
    assert sorted(rows) == ["d1", "d2", "l1", "m1", "m2", "m3", "m4"]  # p1 is pending
    assert rows["m1"]["reward"] == reward_of(True, False, 5, CONFIG) == 1.5
    assert rows["m2"]["reward"] == reward_of(True, True, None, CONFIG) == -1.0  # first wins
    assert rows["m3"]["reward"] == reward_of(False, False, 2, CONFIG) == -0.25
    assert rows["m4"]["reward"] == 1.0
    for did in ("l1", "d1", "d2"):
        assert rows[did]["reward"] == CONFIG.default_reward
        assert rows[did]["matched"] is False
    assert all(rows[d]["matched"] for d in ("m1", "m2", "m3", "m4"))
    assert sorted(result.unmatched.column("decision_id").to_pylist()) == ["ghost-1", "ghost-2"]


def _args(tmp_path: Path, **over: object) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    feedback.configure(parser)
    args = parser.parse_args(
        [
            *("--log-dir", str(tmp_path / "logs"), "--out", str(tmp_path / "out"), "--json"),
            *("--models-dir", str(tmp_path / "models"), "--now", NOW.isoformat()),
        ]
    )
    vars(args).update(over)
    return args


def test_command_writes_dataset_with_policy_reward(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_log(tmp_path / "logs")
    assert feedback.run(_args(tmp_path)) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["matched"], report["unmatched"], report["pending"]) == (4, 2, 1)
    assert report["reward_config"] == {"v-test": "policy file"}  # no manifest for v-test
    data = pq.read_table(tmp_path / "out" / "bandit.parquet").to_pylist()
    rewards = {r["decision_id"]: r["reward"] for r in data}
    # training/policy.yaml: resolved 1, escalated 0, default 0, no CSAT weight.
    assert rewards == {"m1": 1.0, "m2": 0.0, "m3": 0.0, "m4": 1.0, "l1": 0.0, "d1": 0.0, "d2": 0.0}
    lo, hi = report["mean_reward_ci"]
    assert lo <= report["mean_reward"] <= hi
    assert pq.read_table(tmp_path / "out" / "unmatched_outcomes.parquet").num_rows == 2


def test_missing_log_dir_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert feedback.run(_args(tmp_path)) == 2
    assert "no log folder" in capsys.readouterr().err


def test_reward_config_comes_from_the_decisions_manifest(tmp_path: Path) -> None:
    from modelio.manifest import load_manifest, write_manifest
    from tests.support.candidate import make_version, synthetic_log
    from training.feedback.dataset import RewardConfigs

    version_dir = make_version(tmp_path, "v-custom", synthetic_log(300, seed=1), epsilon=0.1)
    manifest = load_manifest(version_dir)
    policy = manifest.policy.model_copy(update={"reward": CONFIG})
    write_manifest(version_dir, manifest.model_copy(update={"policy": policy}))
    configs = RewardConfigs(tmp_path)
    assert configs("v-custom") == CONFIG
    assert configs("v-unknown") == configs.fallback == RewardConfig()
    assert configs.sources == {"v-custom": "manifest", "v-unknown": "policy file"}
