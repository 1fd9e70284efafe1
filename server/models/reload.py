"""Reload the models of a running engine: validate a version fully, then swap it in.

A version is checked end to end before anything changes: manifest schema (which also
pins every model's input names to this code's), sha256 of every file, the feature
service it was trained on against the one the reader serves, and a test prediction on
every model. Only a complete, immutable :class:`ModelBundle` is handed to the engine,
so a refused version leaves the old one serving untouched. Reloads are serialized by
one lock; each one logs a line (old -> new version, or refused + reason).

Both the admin RPC (``server.transport.admin``) and SIGHUP (:class:`ReloadOnEvent`)
go through :class:`ModelReloader`.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from modelio.manifest import ManifestError, current_version_dir, load_manifest
from server.errors import InvalidRequestError, ModelLoadError, PersonalizationError
from server.models.bundle import RAW_FEATURES, ModelBundle
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
        :class:`InvalidRequestError` (malformed version name).
        """
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
