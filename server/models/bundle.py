"""One model version as the engine serves it: runner, manifest and derived state.

A :class:`ModelBundle` is immutable and built completely before anyone can see it, so
the engine swaps versions with a single reference assignment (atomic in CPython) and
a request that grabbed a bundle keeps a consistent runner + manifest for its whole
batch, whatever reloads happen meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from modelio.context import ACTION_INPUTS
from modelio.manifest import Manifest
from modelio.vocab import FEATURE_VIEWS
from server.errors import ModelLoadError
from server.models.runner import ModelRunner

#: Raw feature names ``modelio.context`` and the assembler read from the reader's rows.
RAW_FEATURES: frozenset[str] = frozenset(f for names in FEATURE_VIEWS.values() for f in names)


@dataclass(frozen=True, slots=True, eq=False)
class ModelBundle:
    """Everything a batch needs from one model version. Never mutated after build."""

    runner: ModelRunner
    #: Escalation inputs, in matrix column order (nba = these + the action one-hots).
    inputs: tuple[str, ...]
    #: Where each segment input sits in the escalation matrix (read-only array).
    segment_columns: np.ndarray
    #: Manifest defaults for missing features (read-only view).
    defaults: Mapping[str, float]

    @property
    def manifest(self) -> Manifest:
        return self.runner.manifest

    @property
    def version(self) -> str:
        return self.runner.manifest.version

    @classmethod
    def build(cls, runner: ModelRunner) -> ModelBundle:
        """Derive the engine's per-version state; :class:`ModelLoadError` if inconsistent."""
        manifest = runner.manifest
        inputs = tuple(manifest.models["escalation"].inputs)
        if tuple(manifest.models["nba"].inputs) != inputs + ACTION_INPUTS:
            raise ModelLoadError(
                f"{runner.version_dir}: nba inputs must be the escalation inputs + actions"
            )
        return cls(
            runner=runner,
            inputs=inputs,
            segment_columns=_columns(manifest.models["segment"].inputs, inputs),
            defaults=MappingProxyType(dict(manifest.defaults)),
        )


def _columns(names: Sequence[str], inputs: tuple[str, ...]) -> np.ndarray:
    """Indices of the segment inputs among the escalation inputs (computed once)."""
    missing = set(names) - set(inputs)
    if missing:
        raise ModelLoadError(f"segment inputs not among the escalation inputs: {missing}")
    columns = np.array([inputs.index(n) for n in names], dtype=np.intp)
    columns.flags.writeable = False  # shared by every thread of the version
    return columns
