"""The logged-bandit dataset as :class:`training.fit.nba.PolicyData` (for OPE and training).

Inputs are the logged ones (``inputs``: ESCALATION_INPUTS as the serving version encoded
them), so a candidate is scored on exactly what the server saw; eligibility comes from
the logged raw ``features`` through :func:`modelio.policy.eligibility_of`, the served rule.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelio.context import ESCALATION_CONVERSATION_INPUTS, ESCALATION_INPUTS
from modelio.policy import PolicyConfig, eligibility_of, eligible_mask
from modelio.vocab import ACTIONS
from training.feedback.dataset import DatasetError
from training.fit.nba import PolicyData, subset

MIN_TRAINING_ROWS = 500
#: Buckets (of 100, by a hash of the decision id): below VALIDATION_FROM the reward
#: model's training rows, the rest its validation rows (early stopping).
#: A hash, not time order: a time tail is a biased slice of the traffic (the last hours
#: of the day, the last customers of a replay) and OPE on it estimates the wrong value.
VALIDATION_FROM = 85
#: Cross-fitting folds (:mod:`training.feedback.crossfit`): a row's fold is its bucket
#: mod FOLDS, so every fold holds training and validation rows in the same shares.
FOLDS = 5
#: Before cross-fitting, versions trained ``--from-log`` held these buckets out as their
#: test set (manifest ``metrics.nba.held_out``); evaluate-policy still honours that.
LEGACY_HELD_OUT_FROM = 85


#: Logged vectors of either layout: a version with conversation inputs logs those too.
_LAYOUTS = {len(names): names for names in (ESCALATION_INPUTS, ESCALATION_CONVERSATION_INPUTS)}


def logged_layout(dataset: pa.Table) -> tuple[str, ...]:
    """The escalation-input layout of the logged vectors (one for the whole dataset)."""
    column = dataset.column("inputs").combine_chunks()
    lengths = {int(n) for n in column.value_lengths().to_numpy(zero_copy_only=False)}
    if len(lengths) > 1 or not lengths <= set(_LAYOUTS):
        raise DatasetError(
            f"logged inputs have {sorted(lengths)} values, this code's escalation inputs "
            f"{' or '.join(map(str, sorted(_LAYOUTS)))} (one layout per dataset): "
            "the log was written by an incompatible model version"
        )
    return _LAYOUTS[lengths.pop()] if lengths else ESCALATION_INPUTS


def input_matrix(dataset: pa.Table) -> np.ndarray:
    """The logged ``inputs`` as an n x len(layout) float32 matrix (:func:`logged_layout`)."""
    width = len(logged_layout(dataset))
    column = dataset.column("inputs").combine_chunks()
    values = column.flatten().to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=np.float32).reshape(len(column), width)


def policy_data(dataset: pa.Table, config: PolicyConfig) -> PolicyData:
    """Encoded inputs, eligibility masks, sentiment, logged action, propensity, reward."""
    names = logged_layout(dataset)
    x = input_matrix(dataset)
    encoded = [dict(zip(names, map(float, row), strict=True)) for row in x]
    # a conversation layout's failed_<action> inputs are the no-repeat rule's input
    failed = [frozenset(a for a in ACTIONS if row.get(f"failed_{a}") == 1.0) for row in encoded]
    masks = [
        eligible_mask(eligibility_of(json.loads(raw or "{}")), config, f)
        for raw, f in zip(dataset.column("features").to_pylist(), failed, strict=True)
    ]
    return PolicyData(
        encoded=encoded,
        masks=np.asarray(masks, dtype=bool).reshape(len(x), len(ACTIONS)),
        sentiment=dataset.column("sentiment").to_numpy().astype(np.float64),
        actions=dataset.column("action_index").to_numpy().astype(np.int64),
        propensity=dataset.column("propensity").to_numpy().astype(np.float64),
        reward=dataset.column("reward").to_numpy().astype(np.float64),
        inputs=names,
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


def buckets(decision_ids: Sequence[str]) -> np.ndarray:
    """Each decision's bucket in [0, 100): a stable hash of its id."""
    return np.array(
        [int.from_bytes(hashlib.blake2b(d.encode(), digest_size=4).digest(), "big") % 100
         for d in decision_ids],
        dtype=np.int64,
    )  # fmt: skip


@dataclass(frozen=True)
class LoggedSets:
    """Every logged decision, with its decision-id bucket's role: training or validation
    rows of the reward model, and the cross-fitting fold it belongs to."""

    data: PolicyData
    validation_rows: np.ndarray  # bool, per row
    folds: np.ndarray  # int in [0, FOLDS), per row
    #: The latest decision time among the rows (ISO 8601): what the version learnt from.
    logged_through: str

    def __len__(self) -> int:
        return len(self.folds)

    def train(self, without: int | None = None) -> PolicyData:
        """The training rows (those of fold ``without`` left out)."""
        return subset(self.data, ~self.validation_rows & self._outside(without))

    def validation(self, without: int | None = None) -> PolicyData:
        """The validation rows (those of fold ``without`` left out)."""
        return subset(self.data, self.validation_rows & self._outside(without))

    def _outside(self, fold: int | None) -> np.ndarray:
        return np.ones(len(self.folds), dtype=bool) if fold is None else self.folds != fold

    def fold(self, k: int) -> PolicyData:
        """Every row of fold ``k``, training and validation alike."""
        return subset(self.data, self.folds == k)


def logged_sets(dataset: pa.Table, config: PolicyConfig) -> LoggedSets:
    """:class:`LoggedSets` of ``dataset`` (a non-empty one)."""
    bucket = buckets(dataset.column("decision_id").to_pylist())
    latest = pc.max(dataset.column("ts")).as_py()
    return LoggedSets(
        data=policy_data(dataset, config),
        validation_rows=bucket >= VALIDATION_FROM,
        folds=bucket % FOLDS,
        logged_through=latest.isoformat(),
    )


def logged_after(dataset: pa.Table, through: str) -> pa.Table:
    """The rows logged after ``through`` (ISO 8601): decisions a version trained on the
    log up to then never saw."""
    cut = pa.scalar(datetime.fromisoformat(through), type=dataset.schema.field("ts").type)
    return dataset.filter(pc.greater(dataset.column("ts"), cut))


def legacy_held_out(dataset: pa.Table) -> pa.Table:
    """The test buckets of a version trained before cross-fitting."""
    bucket = buckets(dataset.column("decision_id").to_pylist())
    return dataset.filter(pa.array(bucket >= LEGACY_HELD_OUT_FROM))
