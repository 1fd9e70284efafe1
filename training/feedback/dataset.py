"""The logged-bandit dataset: one row per joined decision, with its reward.

Written by ``python -m training feedback`` to the offline store folder
(``feature_repo/data/feedback/bandit.parquet``) and read by ``evaluate-policy`` and
``train --from-log``. It is training data (contexts, actions, propensities, rewards),
not a feature of the customer, so it is not declared as a Feast source; being under
the data folder, ``forget`` erases it like every other table with a ``customer_id``.

The reward of each decision follows the :class:`modelio.reward.RewardConfig` of the
model version that made it (its manifest under ``--models-dir``), else the policy file's.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from modelio.logrecords import DECISION_SCHEMA
from modelio.manifest import ManifestError, load_manifest
from modelio.reward import RewardConfig
from training.export.graphs import POLICY_FILE, load_policy

DEFAULT_DATASET = Path("feature_repo/data/feedback/bandit.parquet")
UNMATCHED_NAME = "unmatched_outcomes.parquet"

#: Decision columns copied into the dataset (the context the policy saw, and its choice).
DECISION_COLUMNS: tuple[str, ...] = (
    "decision_id",
    "ts",
    "customer_id",
    "model_version",
    "arm",
    "sentiment",
    "features",
    "inputs",
    "action",
    "action_index",
    "propensity",
    "probabilities",
)
BANDIT_SCHEMA = pa.schema(
    [
        *(DECISION_SCHEMA.field(name) for name in DECISION_COLUMNS),
        ("reward", pa.float64()),
        ("matched", pa.bool_()),  # False: default_reward (no timely outcome)
    ]
)


class DatasetError(ValueError):
    """The logged-bandit dataset is missing, malformed or unfit for the job."""


class RewardConfigs:
    """The RewardConfig of each model version: its manifest's, else the policy file's."""

    def __init__(self, models_dir: Path | None, policy_file: Path = POLICY_FILE) -> None:
        self.models_dir = models_dir
        self.fallback = load_policy(policy_file).reward
        self.sources: dict[str, str] = {}
        self._cache: dict[str, RewardConfig] = {}

    def __call__(self, version: str) -> RewardConfig:
        if version not in self._cache:
            config, source = self.fallback, "policy file"
            if self.models_dir is not None and version and "/" not in version:
                try:
                    manifest = load_manifest(self.models_dir / version, verify=False)
                    config, source = manifest.policy.reward, "manifest"
                except ManifestError:
                    pass
            self._cache[version], self.sources[version] = config, source
        return self._cache[version]


def read_dataset(path: Path) -> pa.Table:
    """The dataset at ``path``; DatasetError when it is missing or lacks columns."""
    if not path.is_file():
        raise DatasetError(f"{path}: no logged-bandit dataset (python -m training feedback)")
    table = pq.read_table(path)
    missing = [name for name in BANDIT_SCHEMA.names if name not in table.column_names]
    if missing:
        raise DatasetError(f"{path}: not a logged-bandit dataset (missing {missing})")
    return table.select(BANDIT_SCHEMA.names).cast(BANDIT_SCHEMA)
