"""Reload the models of a running engine: validate a version fully, then swap it in.

A version is checked end to end before anything changes: manifest schema (which also
pins every model's input names to this code's), sha256 of every file, the feature
service it was trained on against the one the reader serves, and a test prediction on
every model. Only a complete, immutable :class:`ModelBundle` is handed to the engine,
so a refused version leaves the old one serving untouched. Reloads are serialized by
one lock; each one logs a line (old -> new version, or refused + reason).

Both the admin RPC (``server.transport.admin``) and SIGHUP (:class:`ReloadOnEvent`)
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

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from modelio.experiment import (
    Arm,
    Experiment,
    ExperimentError,
    experiment_path,
    load_experiment,
    remove_experiment,
    write_experiment,
)
from modelio.manifest import ManifestError, current_version_dir, load_manifest, set_current
from server.errors import InvalidRequestError, ModelLoadError, PersonalizationError
from server.models.bundle import RAW_FEATURES, ModelBundle
from server.models.experiment import ServedArm, ServedExperiment
from server.models.runner import ModelRunner

log = logging.getLogger(__name__)

#: A version is a directory name inside models_dir: no separators, no leading dot.
VERSION_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


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


class ReloadOnEvent:
    """Reloads ``models/current`` on a worker thread each time ``event`` is set.

    The SIGHUP handler only sets the event (no locks or I/O in signal context); this
    thread does the slow part. Signals arriving during a reload coalesce into one more.
    """

    def __init__(self, reloader: ModelReloader, event: threading.Event) -> None:
        self._reloader = reloader
        self._event = event
        self._closing = False
        self._attempts = 0
        self._thread = threading.Thread(target=self._run, name="model-reload", daemon=True)

    @property
    def attempts(self) -> int:
        """Reloads finished so far (refused ones included)."""
        return self._attempts

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._closing = True
        self._event.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            self._event.wait()
            if self._closing:
                return
            self._event.clear()
            # reload() already logged why it failed; the old version keeps serving.
            with contextlib.suppress(Exception):
                self._reloader.reload()
            self._attempts += 1
