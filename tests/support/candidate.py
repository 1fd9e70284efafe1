"""A synthetic logged-bandit dataset with known per-action success rates, and a small
model version trained on it (real LightGBM → ONNX export, manifest and all)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
from lightgbm import LGBMClassifier
from sklearn.cluster import KMeans
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from modelio.context import BASE_DEFAULTS, ESCALATION_INPUTS, NBA_INPUTS, SEGMENT_INPUTS
from modelio.logrecords import DECISIONS, OUTCOMES, table
from modelio.manifest import Manifest, SegmentName, write_manifest
from modelio.policy import PolicyConfig
from modelio.reward import RewardConfig
from modelio.vocab import ACTIONS, FEATURE_SERVICE
from tests.support.decision_logs import T0, decision, outcome
from training.export import graphs
from training.feedback.join import join_logs

#: True P(success | action), whatever the context: the candidate's value is known.
P_SUCCESS = np.array([0.20, 0.30, 0.45, 0.70, 0.40, 0.35, 0.25])


@dataclass(frozen=True)
class Log:
    x: np.ndarray  # n x ESCALATION_INPUTS
    actions: np.ndarray
    rewards: np.ndarray
    dataset: pa.Table  # BANDIT_SCHEMA, through the feedback join


def synthetic_log(n: int, seed: int, start: datetime = T0, prefix: str = "d") -> Log:
    """Uniform logging policy over ACTIONS; reward ~ Bernoulli(P_SUCCESS[action]); one
    decision a second from ``start``, ids ``<prefix><i>``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(ESCALATION_INPUTS))).astype(np.float32)
    actions = rng.integers(0, len(ACTIONS), n)
    rewards = (rng.random(n) < P_SUCCESS[actions]).astype(np.float64)
    times = [start + timedelta(seconds=int(i)) for i in range(n)]
    decisions = [
        decision(f"{prefix}{i}", ts=t, customer_id=f"C{i % 97}", action_index=int(a), inputs=row)
        for i, (t, a, row) in enumerate(zip(times, actions, x.tolist(), strict=True))
    ]
    outcomes = [
        outcome(f"{prefix}{i}", t + timedelta(minutes=5), resolved=bool(r))
        for i, (t, r) in enumerate(zip(times, rewards, strict=True))
    ]
    result = join_logs(
        table(DECISIONS, decisions),
        table(OUTCOMES, outcomes),
        lambda _: RewardConfig(),
        times[-1] + timedelta(days=1),
    )
    return Log(x, actions, rewards, result.dataset)


def _small_lgbm(seed: int) -> LGBMClassifier:
    """A deliberately small model: the test is about estimation, not fitting."""
    return LGBMClassifier(
        n_estimators=40, num_leaves=7, min_child_samples=50, n_jobs=1, random_state=seed,
        verbose=-1,
    )  # fmt: skip


def make_version(models_dir: Path, name: str, log: Log, epsilon: float, seed: int = 3) -> Path:
    """Fit escalation (rare, context-free) and reward models on ``log``; export a version."""
    rng = np.random.default_rng(seed)
    n = len(log.actions)
    one_hot = np.eye(len(ACTIONS), dtype=np.float32)[log.actions]
    x_nba = np.hstack([log.x, one_hot])
    reward = _small_lgbm(seed).fit(x_nba, log.rewards)
    escalation = _small_lgbm(seed).fit(log.x, (rng.random(n) < 0.05).astype(np.int64))
    segment = Pipeline([("scale", StandardScaler()), ("kmeans", KMeans(2, n_init=2))])
    segment.fit(rng.normal(size=(200, len(SEGMENT_INPUTS))).astype(np.float32))
    version_dir = models_dir / name
    version_dir.mkdir(parents=True)
    files = graphs.export_models(
        version_dir,
        {
            "segment": graphs.segment_onnx(segment, len(SEGMENT_INPUTS)),
            "escalation": graphs.lgbm_onnx(escalation, len(ESCALATION_INPUTS)),
            "nba": graphs.lgbm_onnx(reward, len(NBA_INPUTS)),
        },
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    manifest = Manifest(
        version=name,
        feature_service=FEATURE_SERVICE,
        created_at=datetime.now(UTC),
        training_window={"start": start, "end": start + timedelta(days=30)},
        data_hash="synthetic",
        defaults=dict(BASE_DEFAULTS),
        models=files,
        segments=[SegmentName(id=0, name="a"), SegmentName(id=1, name="b")],
        policy=PolicyConfig.model_validate({"epsilon": epsilon}),
    )
    write_manifest(version_dir, manifest)
    return version_dir
