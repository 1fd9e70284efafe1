"""An experiment through the replay, end to end: a real ``python -m server`` on SQLite
serves two arms and a shadow version (models/experiment.json + LoadExperiment), the
replay injects a known effect on one arm and a feature-scale drift halfway (written into
the server's online store, restored at the end) and sends every outcome back, and
``experiment-report`` on the server's logs gives per-arm figures, a lift interval that
covers the true lift and the shadow's DR estimate with an interval that covers the
shadow policy's true value (the simulator's ground truth on the same turns)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from modelio.logrecords import DECISIONS, read_log, served_only
from modelio.manifest import load_manifest
from modelio.store import open_store
from tests.support.model_versions import clone
from training.monitor.simlog import served_records
from training.replay.population import load_population

from ..conftest import Trained
from .test_replay_e2e import _training

TURNS, EFFECT, DRIFT_AT = 3000, 0.08, 1500


@pytest.mark.timeout(900)
def test_replayed_experiment_report_with_shadow(trained: Trained, tmp_path: Path) -> None:
    shutil.copytree(trained.repo, tmp_path / "feature_repo")
    for state in ("online_store.db", "registry.db"):  # another test's replay may have used them
        (tmp_path / "feature_repo" / "data" / state).unlink(missing_ok=True)
    models = tmp_path / "models"
    shutil.copytree(trained.models_dir, models)
    version = trained.result.version_dir.name
    policy = load_manifest(models / version).policy.model_copy(update={"epsilon": 0.3})
    clone(models, models / version, "explorer", policy=policy)  # a policy that explores more
    assert _training(tmp_path, "materialize").returncode == 0

    arms = f"control={version}:1,treatment={version}:1"
    done = _training(tmp_path, "replay", "--rounds", "1", "--turns", str(TURNS), "--json",
                     "--experiment", arms, "--shadow", "explorer",
                     "--effect", f"treatment={EFFECT}",
                     "--drift", f"at={DRIFT_AT},monthly_spend=2")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    played = json.loads(done.stdout)["rounds"][0]
    truth = played["arms"]
    assert set(truth) == {"control", "treatment"}
    assert sum(a["turns"] for a in truth.values()) == TURNS
    assert truth["treatment"]["effect"] == EFFECT and truth["control"]["effect"] == 0.0
    true_lift = truth["treatment"]["true_value"] - truth["control"]["true_value"]
    shadow_true = played["shadow"]["explorer"]["true_value"]
    _check_served_drift(tmp_path / "feature_repo", tmp_path / "logs")

    done = _training(tmp_path, "experiment-report", "--json", "--out", str(tmp_path / "report"))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert set(report["arms"]) == {"control", "treatment"}  # the shadow rows are no arm
    for arm, a in report["arms"].items():
        assert a["decisions"] == a["rewarded"] == a["matched"] == truth[arm]["turns"]
        lo, hi = a["mean_reward_ci"]
        assert lo < truth[arm]["true_value"] < hi, arm
    lift = report["lift"]["treatment"]
    assert lift["difference_ci"][0] < true_lift < lift["difference_ci"][1]
    assert lift["difference_ci"][0] > 0  # the injected effect is found
    assert not report["srm"]["mismatch"]

    shadow = report["shadow"]["explorer"]
    assert shadow["source"] == "logged shadow rows" and shadow["n"] == TURNS
    lo, hi = shadow["dr"]["ci"]
    assert lo < shadow_true < hi
    assert abs(shadow["dr"]["estimate"] - shadow_true) < 0.1 * shadow_true
    for name in ("experiment.md", "reward_over_time.png", "lift_over_time.png"):
        assert (tmp_path / "report" / name).is_file()
    assert (
        "explorer on 3,000 logged decisions (logged shadow rows)"
        in (tmp_path / "report" / "experiment.md").read_text()
    )


def _check_served_drift(repo: Path, logs: Path) -> None:
    """The server read monthly_spend x 2 after the drift turn, x 1 before; the store is
    back to the materialized values after the replay."""
    served = served_records(repo / "data", load_population(repo / "data"))
    rows = served_only(read_log(logs, DECISIONS)).select(["request_id", "customer_id", "features"])
    seen = {"before": 0, "after": 0}
    for row in rows.to_pylist():
        spend = json.loads(row["features"]).get("monthly_spend")
        original = served[row["customer_id"]].get("monthly_spend")
        turn = int(row["request_id"].split("-")[1])
        if spend is None or original is None or abs(turn - DRIFT_AT) < 50:
            continue  # turns in the same second as the drift turn may fall on either side
        side = "after" if turn > DRIFT_AT else "before"
        assert spend == pytest.approx(original * (2.0 if side == "after" else 1.0)), turn
        seen[side] += 1
    assert min(seen.values()) > 500
    ids = [c for c, raw in served.items() if raw.get("monthly_spend") is not None][:50]
    entities = [{"customer_id": c} for c in ids]
    online = (
        open_store(repo)
        .get_online_features(features=["customer_profile_fv:monthly_spend"], entity_rows=entities)
        .to_dict()
    )
    for customer, spend in zip(online["customer_id"], online["monthly_spend"], strict=True):
        assert spend == pytest.approx(served[customer]["monthly_spend"]), customer
