"""The logged-bandit dataset as :class:`training.fit.nba.PolicyData` (for OPE and training).

Inputs are the logged ones (``inputs``: ESCALATION_INPUTS as the serving version encoded
them), so a candidate is scored on exactly what the server saw; eligibility comes from
the logged raw ``features`` through :func:`modelio.policy.eligibility_of`, the served rule.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd
import pyarrow as pa

from modelio.context import ESCALATION_INPUTS
from modelio.policy import PolicyConfig, eligibility_of, eligible_mask
from modelio.vocab import ACTIONS
from training.feedback.dataset import DatasetError
from training.fit.nba import PolicyData

MIN_TRAINING_ROWS = 500
#: Shares of the logged rows (in time order) for training and validation; rest = test.
TRAIN_SHARE, VALIDATION_SHARE = 0.70, 0.15


def input_matrix(dataset: pa.Table) -> np.ndarray:
    """The logged ``inputs`` as an n x len(ESCALATION_INPUTS) float32 matrix."""
    width = len(ESCALATION_INPUTS)
    column = dataset.column("inputs").combine_chunks()
    lengths = column.value_lengths().to_numpy(zero_copy_only=False)
    if len(lengths) and (lengths != width).any():
        bad = sorted({int(n) for n in lengths if n != width})
        raise DatasetError(
            f"logged inputs have {bad} values, this code's escalation inputs {width}: "
            "the log was written by an incompatible model version"
        )
    values = column.flatten().to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=np.float32).reshape(len(lengths), width)


def policy_data(dataset: pa.Table, config: PolicyConfig) -> PolicyData:
    """Encoded inputs, eligibility masks, sentiment, logged action, propensity, reward."""
    x = input_matrix(dataset)
    masks = [
        eligible_mask(eligibility_of(json.loads(raw or "{}")), config)
        for raw in dataset.column("features").to_pylist()
    ]
    return PolicyData(
        encoded=[dict(zip(ESCALATION_INPUTS, map(float, row), strict=True)) for row in x],
        masks=np.asarray(masks, dtype=bool).reshape(len(x), len(ACTIONS)),
        sentiment=dataset.column("sentiment").to_numpy().astype(np.float64),
        actions=dataset.column("action_index").to_numpy().astype(np.int64),
        propensity=dataset.column("propensity").to_numpy().astype(np.float64),
        reward=dataset.column("reward").to_numpy().astype(np.float64),
        p_true=None,
    )


def check_trainable(dataset: pa.Table, minimum: int = MIN_TRAINING_ROWS) -> None:
    """DatasetError unless there are ``minimum`` rows and every action was logged."""
    if dataset.num_rows < minimum:
        raise DatasetError(
            f"the logged dataset has {dataset.num_rows:,} rows; at least {minimum:,} are "
            "needed to train the reward model from the log"
        )
    seen = set(dataset.column("action_index").to_pylist())
    missing = [a for i, a in enumerate(ACTIONS) if i not in seen]
    if missing:
        raise DatasetError(f"the logged dataset never took {missing}: cannot learn their reward")
    propensity = dataset.column("propensity").to_numpy()
    if not np.all((propensity > 0) & (propensity <= 1)):
        raise DatasetError("logged propensities must lie in (0, 1]")


def time_splits(dataset: pa.Table, config: PolicyConfig) -> Sequence[PolicyData]:
    """Train, validation and test policy data: the logged rows in time order, 70/15/15."""
    return logged_sets(dataset, config).splits


@dataclass(frozen=True)
class LoggedSets:
    """The logged dataset split in time order; ``held_out_since`` is the first test row's
    decision time: a version trained on ``train``/``validation`` never saw rows from then."""

    train: PolicyData
    validation: PolicyData
    test: PolicyData
    held_out_since: str

    @property
    def splits(self) -> list[PolicyData]:
        return [self.train, self.validation, self.test]


def logged_sets(dataset: pa.Table, config: PolicyConfig) -> LoggedSets:
    """:class:`LoggedSets` of ``dataset`` (70/15/15 by decision time)."""
    ordered = dataset.take(np.argsort(dataset.column("ts").to_numpy(), kind="stable"))
    n = ordered.num_rows
    cuts = [0, int(n * TRAIN_SHARE), int(n * (TRAIN_SHARE + VALIDATION_SHARE)), n]
    train, validation, test = (
        policy_data(ordered.slice(lo, hi - lo), config) for lo, hi in pairwise(cuts)
    )
    since = ordered.column("ts")[cuts[2]].as_py() if cuts[2] < n else None
    return LoggedSets(train, validation, test, since.isoformat() if since else "")


def held_out(dataset: pa.Table, since: str) -> pa.Table:
    """Rows decided at or after ``since`` (ISO time): what a version trained before never saw."""
    ts = dataset.column("ts").to_pandas()
    mask = (ts >= pd.Timestamp(since)).to_numpy()
    return dataset.filter(pa.array(mask))
