"""What the engine serves: one or more validated model versions as arms, plus shadows.

:class:`ServedExperiment` is immutable and complete before the engine sees it (every
version loaded and validated by ``server.models.reload``), so an experiment switch is
one reference assignment in the engine, like a version swap. Without an experiment
file it holds one arm named "" (today's single version).
"""

from __future__ import annotations

from dataclasses import dataclass

from modelio.experiment import Experiment
from server.models.bundle import ModelBundle


@dataclass(frozen=True, slots=True, eq=False)
class ServedArm:
    name: str
    bundle: ModelBundle


@dataclass(frozen=True, slots=True, eq=False)
class ServedExperiment:
    """The arms (file order) and shadow versions of one experiment, all loaded."""

    experiment: Experiment | None  # None: one version, no experiment file
    arms: tuple[ServedArm, ...]
    shadows: tuple[ModelBundle, ...] = ()

    @classmethod
    def single(cls, bundle: ModelBundle, arm: str = "") -> ServedExperiment:
        return cls(None, (ServedArm(arm, bundle),))

    @property
    def default(self) -> ServedArm:
        """The control arm (else the first): what ``model_version`` reports."""
        if self.experiment is None:
            return self.arms[0]
        return self.arms[self.experiment.arms.index(self.experiment.control)]

    def bundles(self) -> tuple[ModelBundle, ...]:
        return (*(a.bundle for a in self.arms), *self.shadows)

    def describe(self) -> str:
        """One line for logs and admin replies."""
        if self.experiment is None:
            return f"version {self.arms[0].bundle.version}"
        exp = self.experiment
        shares = exp.cumulative()
        arms = ", ".join(
            f"{a.name}={a.version} {100 * (s - p):.4g}%"
            for a, s, p in zip(exp.arms, shares, (0.0, *shares[:-1]), strict=True)
        )
        shadow = f"; shadow {', '.join(exp.shadow)}" if exp.shadow else ""
        return f"experiment {exp.name} ({arms}{shadow})"
