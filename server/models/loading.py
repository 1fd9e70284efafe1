"""Load and validate model versions and experiments from ``models_dir``, changing nothing.

Every check runs before anything serves: the manifest's schema (which pins every
model's input names to this code's), the sha256 of every file, the feature service
against the one the reader serves, and a smoke prediction on every model. Callers
(:class:`~server.models.reload.ModelReloader`, the engine factory) swap in only what
these functions return.
"""

from __future__ import annotations

import re
from pathlib import Path

from modelio.experiment import Experiment, ExperimentError, load_experiment
from modelio.manifest import ManifestError, current_version_dir, load_manifest
from server.errors import InvalidRequestError, ModelLoadError, PersonalizationError
from server.models.bundle import RAW_FEATURES, ModelBundle
from server.models.experiment import ServedArm, ServedExperiment
from server.models.runner import ModelRunner

#: A version is a directory name inside models_dir: no separators, no leading dot.
VERSION_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def resolve_version_dir(models_dir: Path, version: str) -> Path:
    """``models_dir/version``, or where ``models_dir/current`` points when empty."""
    if not version:
        try:
            return current_version_dir(models_dir)
        except ManifestError as exc:
            raise ModelLoadError(str(exc)) from exc
    if not VERSION_NAME.match(version):
        raise InvalidRequestError(
            "version", "must be a directory name of letters, digits, '_', '.' or '-'"
        )
    return models_dir / version


def load_bundle(
    version_dir: Path, feature_service: str, served: frozenset[str] | None
) -> ModelBundle:
    """Load and validate ``version_dir`` completely; raises :class:`ModelLoadError`."""
    try:
        manifest = load_manifest(version_dir, verify=True)  # schema, input names, sha256
    except ManifestError as exc:
        raise ModelLoadError(str(exc)) from exc
    except OSError as exc:  # unreadable file or directory: same outcome as a corrupt one
        raise ModelLoadError(f"{version_dir}: cannot read the model version: {exc}") from exc
    if manifest.feature_service != feature_service:
        raise ModelLoadError(
            f"{version_dir}: trained on feature service {manifest.feature_service!r}, but the"
            f" server reads {feature_service!r} (restart the server to change services)"
        )
    missing = RAW_FEATURES - served if served is not None else frozenset()
    if missing:
        raise ModelLoadError(
            f"feature service {feature_service!r} does not serve {sorted(missing)},"
            " which the engine needs"
        )
    runner = ModelRunner(version_dir, manifest)  # ORT sessions + a smoke prediction each
    return ModelBundle.build(runner)


def load_experiment_bundles(
    models_dir: Path, experiment: Experiment, feature_service: str, served: frozenset[str] | None
) -> ServedExperiment:
    """Load and validate every version ``experiment`` names (each once); raises
    :class:`ModelLoadError` naming the experiment and the version at the first bad one."""
    bundles: dict[str, ModelBundle] = {}
    for version in experiment.versions():
        try:
            version_dir = resolve_version_dir(models_dir, version)
            bundles[version] = load_bundle(version_dir, feature_service, served)
        except PersonalizationError as exc:
            raise ModelLoadError(
                f"experiment {experiment.name!r}: version {version!r} refused: {exc}"
            ) from exc
    arms = tuple(ServedArm(a.name, bundles[a.version]) for a in experiment.arms)
    return ServedExperiment(experiment, arms, tuple(bundles[v] for v in experiment.shadow))


def read_experiment(models_dir: Path) -> Experiment | None:
    """``models/experiment.json`` (None if absent); :class:`ModelLoadError` if invalid."""
    try:
        return load_experiment(models_dir)
    except ExperimentError as exc:
        raise ModelLoadError(str(exc)) from exc
