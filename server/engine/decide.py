"""The decision engine: one feature read, three model runs and the policy per batch.

``decide_batch`` reads every distinct customer of the batch in one call to the feature
reader, encodes all inputs with the shared ``modelio.context`` code, runs each model
ONCE over the whole batch (segment and escalation: n rows, next-best-action: n x 7
rows) and applies the policy per request. ``decide(req)`` is ``decide_batch([req])[0]``,
so a turn gets the same answer alone or in a batch (apart from ``decision_id``). With
``max_batch`` > 1, Decide calls that overlap in time are batched that way too
(:mod:`server.engine.batcher`): under load one read and three model runs serve many
calls, while a lone call still runs at once on its own thread.

Every decided batch is submitted to the decision log (:mod:`server.logs`) as one row
per decision before it is returned, so an answer the caller got is logged or counted;
a log set to refuse when full fails the whole batch (``RecordLogFullError``).

The model version is an immutable :class:`~server.models.bundle.ModelBundle` that
``swap_models`` replaces with one reference assignment (``server.models.reload``
validates it first). Each batch reads that reference once, so it runs entirely on the
version it started with, even if a reload lands in the middle of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from modelio.context import UnknownTimeZoneError, encode_inputs, vector, zone
from modelio.logrecords import DECISIONS
from modelio.vocab import ACTIONS
from server.engine.assemble import Assembler, Prepared, prepare, prepare_degraded
from server.engine.batcher import MicroBatcher
from server.engine.records import decision_rows
from server.engine.types import Decision, DecisionRequest
from server.errors import InvalidRequestError, ModelLoadError, NotReadyError
from server.features.base import CustomerFeatures, FeatureReader, FeatureReadError
from server.logs.base import NullLog, RecordLog
from server.metrics import observe_decisions
from server.models.bundle import ModelBundle
from server.models.runner import ModelRunner


def invalid_time_zone(field: str, exc: UnknownTimeZoneError) -> InvalidRequestError:
    """The caller's error for a time zone ``modelio.context.zone`` did not know."""
    return InvalidRequestError(field, f"unknown IANA time zone {exc}")


def check_time_zone(name: str, field: str) -> None:
    """Raise :class:`InvalidRequestError` on ``field`` unless ``name`` is an IANA zone."""
    try:
        zone(name)
    except UnknownTimeZoneError as exc:
        raise invalid_time_zone(field, exc) from None


@dataclass(frozen=True, slots=True)
class _Served:
    """A model version with the engine's per-version assembler, swapped as one."""

    bundle: ModelBundle
    assembler: Assembler

    @classmethod
    def of(cls, bundle: ModelBundle) -> _Served:
        return cls(bundle, Assembler(bundle.manifest))


class DecisionEngine:
    """Implements ``server.engine.protocol.Engine``; thread-safe."""

    def __init__(
        self,
        runner: ModelRunner,
        reader: FeatureReader,
        clock: Callable[[], float] = time.time,
        max_batch: int = 1,
        log: RecordLog | None = None,
        log_close_timeout_s: float = 30.0,
    ) -> None:
        """``max_batch`` > 1 decides overlapping ``decide`` calls together
        (:mod:`server.engine.batcher`); 1 decides each call on its own thread.

        ``log`` receives one decision row per decision (default: a NullLog). The engine
        owns it: :meth:`close` closes it, waiting up to ``log_close_timeout_s`` for the
        queued rows to be written.
        """
        self._batcher = MicroBatcher(self._decide_overlapping, max_batch) if max_batch > 1 else None
        self._served_version = _Served.of(ModelBundle.build(runner))
        self._reader = reader
        self._clock = clock
        # The reader is opened once for one FeatureService; a reloaded version must
        # have been trained on that same service (see server.models.reload).
        spec = getattr(reader, "spec", None)
        self._feature_service: str = getattr(spec, "name", runner.manifest.feature_service)
        self._served: frozenset[str] | None = (
            frozenset(f for view in spec.views for f in view.features) if spec else None
        )
        self._actions = np.eye(len(ACTIONS), dtype=np.float32)
        self._closed = threading.Event()
        self._log: RecordLog = log if log is not None else NullLog()
        # Rows are only built for a log that keeps them: "off" costs nothing per call.
        self._logging = not isinstance(self._log, NullLog)
        self._log_close_timeout_s = log_close_timeout_s

    @property
    def bundle(self) -> ModelBundle:
        """The model version serving new requests right now."""
        return self._served_version.bundle

    @property
    def record_log(self) -> RecordLog:
        """The log this engine submits its ``decisions`` rows to (outcomes go there too)."""
        return self._log

    @property
    def model_version(self) -> str:
        return self._served_version.bundle.version

    @property
    def feature_service(self) -> str:
        """Name of the FeatureService the reader serves."""
        return self._feature_service

    def served_features(self) -> frozenset[str] | None:
        """Raw feature names the reader returns; None if the reader does not say."""
        return self._served

    def swap_models(self, bundle: ModelBundle) -> ModelBundle:
        """Serve ``bundle`` from now on and return the previous one.

        One reference assignment: requests already running keep the bundle they
        grabbed. Callers validate first (``server.models.reload``); this only refuses
        a version trained on another feature service than the reader serves.
        """
        if bundle.manifest.feature_service != self._feature_service:
            raise ModelLoadError(
                f"{bundle.runner.version_dir}: trained on feature service"
                f" {bundle.manifest.feature_service!r}, the server reads {self._feature_service!r}"
            )
        served = _Served.of(bundle)  # built before the swap: a failure changes nothing
        previous, self._served_version = self._served_version.bundle, served
        return previous

    def ready(self) -> bool:
        return not self._closed.is_set() and self._reader.ping()

    def decide(self, req: DecisionRequest) -> Decision:
        if self._batcher is None:
            return observe_decisions(self._decide([req], single=True))[0]
        check_time_zone(req.context.timezone, "context.time_zone")  # fail this call only
        return self._batcher.submit(req)

    def decide_batch(self, reqs: list[DecisionRequest]) -> list[Decision]:
        return observe_decisions(self._decide(reqs, single=False))

    def close(self) -> None:
        """Refuse new calls, close the reader, then write and close the decision log.
        Called after the server drained, so every answered decision is written."""
        if not self._closed.is_set():
            self._closed.set()
            self._reader.close()
            self._log.close(self._log_close_timeout_s)

    # --- internals -------------------------------------------------------------------

    def _decide_overlapping(self, reqs: list[DecisionRequest]) -> list[Decision]:
        return observe_decisions(self._decide(reqs, single=True))

    def _decide(self, reqs: Sequence[DecisionRequest], single: bool) -> list[Decision]:
        if self._closed.is_set():
            raise NotReadyError("the decision engine is closed")
        if not reqs:
            return []
        served = self._served_version  # read once: the whole batch runs on this version
        bundle = served.bundle
        prepared = self._prepare(reqs)
        inputs = self._encode(bundle, prepared, single)
        n = len(prepared)
        runner = bundle.runner
        labels = runner.segment(np.ascontiguousarray(inputs[:, bundle.segment_columns]))
        risks = runner.escalation(inputs)
        scores = runner.nba(self._nba_matrix(inputs)).reshape(n, len(ACTIONS))
        assemble = served.assembler.decision_and_choice
        score_lists: list[list[float]] = scores.tolist()
        decided = [
            assemble(p, int(labels[i]), float(risks[i]), score_lists[i])
            for i, p in enumerate(prepared)
        ]
        if self._logging:
            ts = datetime.fromtimestamp(self._clock(), UTC)
            rows = decision_rows(prepared, decided, inputs.tolist(), score_lists, ts)
            self._log.submit(DECISIONS, rows)  # may raise RecordLogFullError: no answer
        return [d for d, _ in decided]

    def _prepare(self, reqs: Sequence[DecisionRequest]) -> list[Prepared]:
        """One reader call for the batch's distinct customers; degrade if it fails."""
        unique = list(dict.fromkeys(r.customer_id for r in reqs))
        try:
            rows = self._reader.read(unique)
        except FeatureReadError as exc:
            return [prepare_degraded(r, exc.reason) for r in reqs]
        found: dict[str, CustomerFeatures] = {row.customer_id: row for row in rows}
        now = self._clock()
        return [prepare(r, found.get(r.customer_id), now) for r in reqs]

    def _encode(
        self, bundle: ModelBundle, prepared: Sequence[Prepared], single: bool
    ) -> np.ndarray:
        """(n, len(escalation inputs)) float32 matrix, one row per request."""
        rows = []
        for i, p in enumerate(prepared):
            try:
                encoded = encode_inputs(p.raw, p.req.context, bundle.defaults)
            except UnknownTimeZoneError as exc:
                field = "context.time_zone" if single else f"requests[{i}].context.time_zone"
                raise invalid_time_zone(field, exc) from None
            rows.append(vector(encoded, bundle.inputs))
        return np.asarray(rows, dtype=np.float32)

    def _nba_matrix(self, inputs: np.ndarray) -> np.ndarray:
        """Each request's row once per action, with that action's one-hot appended."""
        n, width = inputs.shape
        out = np.empty((n * len(ACTIONS), width + len(ACTIONS)), dtype=np.float32)
        out[:, :width] = np.repeat(inputs, len(ACTIONS), axis=0)
        out[:, width:] = np.tile(self._actions, (n, 1))
        return out
