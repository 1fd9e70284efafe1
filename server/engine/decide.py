"""The decision engine: one feature read, three model runs and the policy per batch.

``decide_batch`` reads every distinct customer of the batch in one call to the feature
reader, encodes all inputs with the shared ``modelio.context`` code, runs each model
ONCE over the whole batch (segment and escalation: n rows, next-best-action: n x 7
rows) and applies the policy per request. ``decide(req)`` is ``decide_batch([req])[0]``,
so a turn gets the same answer alone or in a batch (apart from ``decision_id``). With
``max_batch`` > 1, Decide calls that overlap in time are batched that way too
(:mod:`server.engine.batcher`): under load one read and three model runs serve many
calls, while a lone call still runs at once on its own thread.

Every decided batch is submitted to the decision log (:mod:`server.logs`), one row per
decision, before it is returned; a log set to refuse when full fails the whole batch.
The model version (:class:`~server.models.bundle.ModelBundle`) is swapped by one
reference assignment and read once per batch, so a reload never splits a batch.
Requests naming a conversation read and update its state
(:mod:`server.engine.conversations`); the others touch nothing of it.

**Experiments** (docs/models.md): the served state is an immutable :class:`Snapshot`
(one ``Served`` per arm, plus shadows) swapped as one reference. A batch still reads
features once; requests are grouped by arm (``modelio.experiment.assign``) and each group
runs on its arm's version. With the log on, shadows are scored on the whole batch and
logged as extra rows (``arm="shadow:<version>"``); a failing shadow is skipped, never
changing the answer. One arm and no shadow take the single-version path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import numpy as np

from modelio.experiment import assign
from modelio.logrecords import DECISIONS
from modelio.policy import Choice
from server.engine.assemble import Prepared, read_prepared
from server.engine.batcher import MicroBatcher
from server.engine.conversations import ConversationTracker
from server.engine.records import DecisionColumns, WithShadows
from server.engine.served import (
    Served,
    Snapshot,
    check_time_zone,
    encode,
    score,
    shadow_columns,
)
from server.engine.types import Decision, DecisionRequest
from server.errors import ModelLoadError, NotReadyError
from server.features.base import FeatureReader
from server.logs.base import NullLog, RecordLog
from server.metrics import observe_decisions
from server.models.bundle import ModelBundle
from server.models.experiment import ServedExperiment
from server.models.runner import ModelRunner


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
        conversations: ConversationTracker | None = None,
    ) -> None:
        """``max_batch`` > 1 decides overlapping calls together (:mod:`.batcher`).

        ``log`` receives one decision row per decision (default: a NullLog); :meth:`close`
        closes it, waiting up to ``log_close_timeout_s``. ``conversations``: where
        conversation state is kept (None: ids are ignored).
        """
        self._batcher = MicroBatcher(self._decide_overlapping, max_batch) if max_batch > 1 else None
        self._snapshot = Snapshot.of(ServedExperiment.single(ModelBundle.build(runner)))
        self._reader = reader
        self._clock = clock
        # The reader is opened once for one FeatureService; a reloaded version must
        # have been trained on that same service (see server.models.reload).
        spec = getattr(reader, "spec", None)
        self._feature_service: str = getattr(spec, "name", runner.manifest.feature_service)
        self._served: frozenset[str] | None = (
            frozenset(f for view in spec.views for f in view.features) if spec else None
        )
        self._closed = threading.Event()
        self._log: RecordLog = log if log is not None else NullLog()
        # Rows are only built for a log that keeps them: "off" costs nothing per call.
        self._logging = not isinstance(self._log, NullLog)
        self._log_close_timeout_s = log_close_timeout_s
        self._conversations = conversations

    @property
    def bundle(self) -> ModelBundle:
        """The model version serving new requests right now (an experiment's control arm)."""
        return self._snapshot.default.bundle

    @property
    def experiment(self) -> ServedExperiment:
        """What serves right now: the arms and shadows (one arm "" without experiment)."""
        return self._snapshot.spec

    @property
    def snapshot(self) -> Snapshot:
        """What serves right now, as the engine holds it (one reference, swapped whole)."""
        return self._snapshot

    @property
    def reader(self) -> FeatureReader:
        """The (guarded) feature reader every batch reads through."""
        return self._reader

    @property
    def record_log(self) -> RecordLog:
        """The log this engine submits its ``decisions`` rows to (outcomes go there too)."""
        return self._log

    @property
    def conversations(self) -> ConversationTracker | None:
        """Where conversation state is kept (outcomes update it too); None: not kept."""
        return self._conversations

    @property
    def model_version(self) -> str:
        return self._snapshot.default.bundle.version

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
        a version trained on another feature service than the reader serves. Ends any
        experiment (the version serves alone, arm "").
        """
        previous = self._snapshot.default.bundle
        self.swap_experiment(ServedExperiment.single(bundle))
        return previous

    def swap_experiment(self, served: ServedExperiment) -> ServedExperiment:
        """Serve ``served`` (every version validated by the caller) from now on, as one
        reference assignment; return what served before."""
        for bundle in served.bundles():
            if bundle.manifest.feature_service != self._feature_service:
                raise ModelLoadError(
                    f"{bundle.runner.version_dir}: trained on feature service"
                    f" {bundle.manifest.feature_service!r}, the server reads"
                    f" {self._feature_service!r}"
                )
        snapshot = Snapshot.of(served)  # built before the swap: a failure changes nothing
        previous, self._snapshot = self._snapshot.spec, snapshot
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
            if self._conversations is not None:  # queued updates need the store
                self._conversations.close(self._log_close_timeout_s)
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
        snapshot = self._snapshot  # read once: the whole batch runs on this experiment
        tracker = self._conversations
        prepared = read_prepared(self._reader, reqs, self._clock, tracker)
        if not snapshot.single:
            answers = self._decide_arms(snapshot, prepared, single)
        else:
            served = snapshot.arms[0]
            inputs = encode(served.bundle, prepared, single)
            decided, scores = score(served, snapshot.names[0], prepared, inputs)
            if self._logging:
                ts = datetime.fromtimestamp(self._clock(), UTC)
                rows = DecisionColumns(prepared, decided, inputs, scores, ts)
                self._log.submit(DECISIONS, rows)  # may raise RecordLogFullError: no answer
            answers = [d for d, _ in decided]
        if tracker is not None:  # after the log: an answer that fails is not a turn
            tracker.after_decisions(prepared, answers)
        return answers

    def _decide_arms(
        self, snapshot: Snapshot, prepared: list[Prepared], single: bool
    ) -> list[Decision]:
        """Group the batch by arm, run each group on its version, then the shadows."""
        encoded: dict[tuple[object, ...], np.ndarray] = {}  # whole batch, per layout

        def matrix(served: Served) -> np.ndarray:
            if served.encoding not in encoded:
                encoded[served.encoding] = encode(served.bundle, prepared, single)
            return encoded[served.encoding]

        groups: dict[int, list[int]] = {}
        salt, cumulative = snapshot.salt, snapshot.cumulative
        for i, p in enumerate(prepared):
            groups.setdefault(assign(salt, p.req.customer_id, cumulative), []).append(i)
        n = len(prepared)
        decided: list[tuple[Decision, Choice]] = [None] * n  # type: ignore[list-item]
        scores: list[np.ndarray] = [None] * n  # type: ignore[list-item]
        inputs: list[np.ndarray] = [None] * n  # type: ignore[list-item]
        for arm, members in groups.items():
            served = snapshot.arms[arm]
            full = matrix(served)
            rows = full if len(members) == n else full[members]
            group = prepared if len(members) == n else [prepared[i] for i in members]
            got, got_scores = score(served, snapshot.names[arm], group, rows)
            for k, i in enumerate(members):
                decided[i], scores[i], inputs[i] = got[k], got_scores[k], rows[k]
        if self._logging:
            ts = datetime.fromtimestamp(self._clock(), UTC)
            columns = DecisionColumns(prepared, decided, np.stack(inputs), np.stack(scores), ts)
            shadows = [shadow_columns(s, prepared, matrix, columns) for s in snapshot.shadows]
            logged = WithShadows(columns, [s for s in shadows if s is not None])
            self._log.submit(DECISIONS, logged)  # may raise RecordLogFullError
        return [d for d, _ in decided]
