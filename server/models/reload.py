"""Reload the models of a running engine: validate a version fully, then swap it in.

A version is checked end to end before anything changes: manifest schema (which also
pins every model's input names to this code's), sha256 of every file, the feature
service it was trained on against the one the reader serves, and a test prediction on
every model. Only a complete, immutable :class:`ModelBundle` is handed to the engine,
so a refused version leaves the old one serving untouched. Reloads are serialized by
one lock; each one logs a line (old -> new version, or refused + reason).

Both the admin RPC (``server.transport.admin``) and SIGHUP
(:class:`~server.models.on_signal.ReloadOnEvent`)
go through :class:`ModelReloader`.

Experiments (``models/experiment.json``, :mod:`modelio.experiment`) are loaded the same
way: every arm's and shadow's version passes :func:`load_bundle` before the whole
:class:`~server.models.experiment.ServedExperiment` is swapped in as one; one bad
version refuses the change. ``reload("")`` (empty version, SIGHUP) loads the experiment
when the file exists, else ``models/current``; a named version ends any experiment.
:meth:`ModelReloader.promote` makes one arm the only one (optionally moving
``models/current`` to it and removing the file).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from modelio.experiment import (
    Arm,
    experiment_path,
    remove_experiment,
    write_experiment,
)
from modelio.manifest import ManifestError, current_version_dir, set_current
from server.errors import InvalidRequestError, ModelLoadError, PersonalizationError
from server.models.bundle import ModelBundle
from server.models.experiment import ServedArm, ServedExperiment
from server.models.loading import (
    load_bundle,
    load_experiment_bundles,
    read_experiment,
    resolve_version_dir,
)

log = logging.getLogger(__name__)


@runtime_checkable
class Reloadable(Protocol):
    """What a reload needs from the engine (``DecisionEngine`` implements it)."""

    @property
    def bundle(self) -> ModelBundle: ...

    @property
    def feature_service(self) -> str: ...

    def served_features(self) -> frozenset[str] | None: ...

    def swap_models(self, bundle: ModelBundle) -> ModelBundle: ...


@runtime_checkable
class ExperimentServing(Reloadable, Protocol):
    """An engine that serves experiments (``DecisionEngine`` implements it)."""

    @property
    def experiment(self) -> ServedExperiment: ...

    def swap_experiment(self, served: ServedExperiment) -> ServedExperiment: ...


@dataclass(frozen=True, slots=True)
class ReloadResult:
    previous_version: str
    loaded_version: str
    message: str


@dataclass(frozen=True, slots=True)
class PromoteResult:
    serving: ServedExperiment
    current_version: str
    message: str


class ModelReloader:
    """Validates and swaps model versions into one engine; one reload at a time."""

    def __init__(self, engine: Reloadable, models_dir: Path) -> None:
        self._engine = engine
        self._models_dir = Path(models_dir)
        # Serializes reloads: two at once would both load (slow, twice the memory) and
        # the last swap would win arbitrarily. Decisions never take this lock.
        self._lock = threading.Lock()

    def reload(self, version: str = "") -> ReloadResult:
        """Load ``version`` (empty: ``models/current``) and serve it from now on.

        Raises :class:`ModelLoadError` (refused; the old version keeps serving) or
        :class:`InvalidRequestError` (malformed version name). With an empty version
        and ``models/experiment.json`` present, loads the experiment instead.
        """
        if not version and experiment_path(self._models_dir).exists():
            with self._lock:
                served, previous, message = self._switch("experiment", self._load_from_file)
            return ReloadResult(previous, served.default.bundle.version, message)
        with self._lock:
            start = time.perf_counter()
            previous = self._engine.bundle.version
            requested = version or "current"
            try:
                version_dir = resolve_version_dir(self._models_dir, version)
                bundle = load_bundle(
                    version_dir, self._engine.feature_service, self._engine.served_features()
                )
                self._engine.swap_models(bundle)
            except PersonalizationError as exc:
                log.warning(
                    "model reload refused: %s keeps serving",
                    previous,
                    extra={"model_version": previous, "requested": requested, "reason": str(exc)},
                )
                raise
            except Exception:
                log.exception(
                    "model reload failed: %s keeps serving",
                    previous,
                    extra={"model_version": previous, "requested": requested},
                )
                raise
            message = f"reloaded models: {previous} -> {bundle.version} ({version_dir})"
            log.info(
                message,
                extra={
                    "previous_version": previous,
                    "model_version": bundle.version,
                    "requested": requested,
                    "duration_ms": round((time.perf_counter() - start) * 1000.0, 1),
                },
            )
            return ReloadResult(previous, bundle.version, message)

    # --- experiments -----------------------------------------------------------------

    @property
    def models_dir(self) -> Path:
        return self._models_dir

    def _experiments(self) -> ExperimentServing:
        if not isinstance(self._engine, ExperimentServing):
            raise ModelLoadError("this engine does not serve experiments")
        return self._engine

    def load_experiment(self) -> ServedExperiment:
        """Load ``models/experiment.json``, validate every version, serve it as one.

        Raises :class:`ModelLoadError` (missing or invalid file, any bad version): the
        configuration serving before keeps serving.
        """
        with self._lock:
            return self._switch("experiment", self._load_from_file)[0]

    def promote(self, arm: str, move_current: bool = False) -> PromoteResult:
        """Make ``arm`` of the serving experiment the only one (see the module doc)."""
        with self._lock:
            served, _, message = self._switch(
                f"promote {arm}", lambda: self._promoted(arm, move_current)
            )
            try:
                current = current_version_dir(self._models_dir).name
            except ManifestError:
                current = ""
            return PromoteResult(served, current, message)

    def _load_from_file(self) -> ServedExperiment:
        experiment = read_experiment(self._models_dir)
        if experiment is None:
            raise ModelLoadError(f"{experiment_path(self._models_dir)}: no experiment file")
        engine = self._experiments()
        return load_experiment_bundles(
            self._models_dir, experiment, engine.feature_service, engine.served_features()
        )

    def _promoted(self, name: str, move_current: bool) -> ServedExperiment:
        engine = self._experiments()
        experiment = engine.experiment.experiment
        if experiment is None:
            raise ModelLoadError("no experiment is serving: nothing to promote")
        arm = next((a for a in experiment.arms if a.name == name), None)
        if arm is None:
            names = [a.name for a in experiment.arms]
            raise InvalidRequestError(
                "arm", f"no arm {name!r} in experiment {experiment.name!r} (arms: {names})"
            )
        version_dir = resolve_version_dir(self._models_dir, arm.version)
        bundle = load_bundle(version_dir, engine.feature_service, engine.served_features())
        if move_current:
            # current first: a crash in between leaves the experiment file, which still
            # serves the experiment after a restart (never a stale current alone).
            set_current(self._models_dir, arm.version)
            remove_experiment(self._models_dir)
            return ServedExperiment.single(bundle)
        single = Arm(name=arm.name, version=arm.version, weight=1.0, control=True)
        promoted = experiment.model_copy(update={"arms": (single,), "shadow": ()})
        write_experiment(self._models_dir, promoted)
        return ServedExperiment(promoted, (ServedArm(arm.name, bundle),))

    def _switch(
        self, requested: str, build: Callable[[], ServedExperiment]
    ) -> tuple[ServedExperiment, str, str]:
        """Build (validating everything), swap, log; the caller holds the lock.
        Returns what serves now, the version that served before and a summary."""
        engine = self._experiments()
        start = time.perf_counter()
        previous = engine.experiment.describe()
        previous_version = engine.bundle.version
        try:
            served = build()
            engine.swap_experiment(served)
        except PersonalizationError as exc:
            log.warning(
                "experiment change refused: %s keeps serving",
                previous,
                extra={"serving": previous, "requested": requested, "reason": str(exc)},
            )
            raise
        except OSError as exc:  # writing experiment.json or models/current
            log.warning(
                "experiment change failed: %s keeps serving",
                previous,
                extra={"serving": previous, "requested": requested, "reason": str(exc)},
            )
            raise ModelLoadError(f"{requested}: cannot write the models directory: {exc}") from exc
        except Exception:
            log.exception(
                "experiment change failed: %s keeps serving",
                previous,
                extra={"serving": previous, "requested": requested},
            )
            raise
        now = served.describe()
        message = f"{requested}: {previous} -> {now}"
        log.info(
            "experiment switched: %s -> %s",
            previous,
            now,
            extra={
                "previous": previous,
                "serving": now,
                "requested": requested,
                "model_version": served.default.bundle.version,
                "duration_ms": round((time.perf_counter() - start) * 1000.0, 1),
            },
        )
        return served, previous_version, message
