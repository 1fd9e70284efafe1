"""The experiment definition (A/B, canary, shadow) and the arm assignment, shared by the
server (which serves it) and training (whose experiment report reads the arm weights).

``models/experiment.json`` sits next to the model versions::

    {"name": "nba-2025-03", "salt": "s1",
     "arms": [{"name": "control", "version": "v1", "weight": 0.9, "control": true},
              {"name": "canary", "version": "v2", "weight": 0.1}],
     "shadow": ["v3"]}

Weights are positive and sum to anything positive (they are normalized); arm names are
unique; at most one arm is the ``control``. ``shadow`` versions are scored on every
request without acting (logged only). No file: one version (``models/current``), arm "".

:func:`assign` maps ``(salt, customer_id)`` to an arm: blake2b of both -> a uniform
number in [0, 1) -> the first arm whose cumulative normalized weight exceeds it. It is
a pure function of the salt, the customer and the weights, so a customer keeps their arm
across calls, servers and restarts; a new salt reshuffles everyone.
"""

from __future__ import annotations

import bisect
import hashlib
import os
from itertools import accumulate
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from modelio.logrecords import SHADOW_ARM_PREFIX

EXPERIMENT = "experiment.json"
#: Decision-log arm of a shadow version's rows: ``shadow:<version>``.
SHADOW_PREFIX = SHADOW_ARM_PREFIX
_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$"
_VERSION = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
_SCALE = float(2**64)


class ExperimentError(ValueError):
    """The experiment file is unreadable or invalid."""


class Arm(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME, description="unique arm name, reported as DecideResponse.arm")
    version: str = Field(pattern=_VERSION, description="model version directory in models/")
    weight: float = Field(gt=0, allow_inf_nan=False, description="relative traffic share")
    control: bool = False


class Experiment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128)
    salt: str = Field(min_length=1, max_length=128)
    arms: tuple[Arm, ...] = Field(min_length=1)
    shadow: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Experiment:
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must be unique: {names}")
        if sum(a.control for a in self.arms) > 1:
            raise ValueError("at most one arm may be the control")
        if len(set(self.shadow)) != len(self.shadow):
            raise ValueError(f"shadow versions must be unique: {list(self.shadow)}")
        for version in self.shadow:
            Arm(name="shadow", version=version, weight=1.0)  # same name rule as arm versions
        return self

    @property
    def control(self) -> Arm:
        """The arm marked ``control``, else the first one."""
        return next((a for a in self.arms if a.control), self.arms[0])

    def cumulative(self) -> tuple[float, ...]:
        """Cumulative normalized weights (the last one is exactly 1.0)."""
        total = sum(a.weight for a in self.arms)
        bounds = [w / total for w in accumulate(a.weight for a in self.arms)]
        bounds[-1] = 1.0
        return tuple(bounds)

    def versions(self) -> tuple[str, ...]:
        """Every version the experiment needs loaded (arms, then shadows), once each."""
        return tuple(dict.fromkeys([*(a.version for a in self.arms), *self.shadow]))

    def arm_of(self, customer_id: str) -> Arm:
        return self.arms[assign(self.salt, customer_id, self.cumulative())]


def bucket(salt: str, customer_id: str) -> float:
    """A uniform number in [0, 1) from blake2b(salt, customer_id)."""
    # Length-prefixed salt: ("ab", "c") and ("a", "bc") hash differently.
    data = f"{len(salt)}:{salt}{customer_id}".encode()
    digest = hashlib.blake2b(data, digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def assign(salt: str, customer_id: str, cumulative: tuple[float, ...]) -> int:
    """Index of the arm of ``customer_id``: the first cumulative weight above its bucket."""
    return min(bisect.bisect_right(cumulative, bucket(salt, customer_id)), len(cumulative) - 1)


def experiment_path(models_dir: Path) -> Path:
    return Path(models_dir) / EXPERIMENT


def load_experiment(models_dir: Path) -> Experiment | None:
    """The experiment of ``models_dir``, None when there is no file; ExperimentError if bad."""
    path = experiment_path(models_dir)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ExperimentError(f"{path}: cannot read the experiment: {exc}") from exc
    try:
        return Experiment.model_validate_json(text)
    except ValidationError as exc:
        raise ExperimentError(f"{path}: invalid experiment: {exc}") from exc


def write_experiment(models_dir: Path, experiment: Experiment) -> Path:
    """Write ``models/experiment.json`` atomically (temp file, fsync, rename)."""
    path = experiment_path(models_dir)
    tmp = path.with_name(f".{EXPERIMENT}.tmp")
    with open(tmp, "w") as f:
        f.write(experiment.model_dump_json(indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    return path


def remove_experiment(models_dir: Path) -> bool:
    """Delete ``models/experiment.json``; False if there was none."""
    try:
        experiment_path(models_dir).unlink()
    except FileNotFoundError:
        return False
    return True
