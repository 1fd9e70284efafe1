"""The decision engine: one feature read, three model runs and the policy per batch.

``decide_batch`` reads every distinct customer of the batch in one call to the feature
reader, encodes all inputs with the shared ``modelio.context`` code, runs each model
ONCE over the whole batch (segment and escalation: n rows, next-best-action: n x 7
rows) and applies the policy per request. ``decide(req)`` is ``decide_batch([req])[0]``,
so a turn gets the same answer alone or in a batch (apart from ``decision_id``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from modelio.context import (
    ACTION_INPUTS,
    UnknownTimeZoneError,
    encode_inputs,
    vector,
)
from modelio.vocab import ACTIONS
from server.engine.assemble import Assembler, Prepared, prepare, prepare_degraded
from server.engine.errors import InvalidRequestError, ModelLoadError, NotReadyError
from server.engine.types import Decision, DecisionRequest
from server.features.base import CustomerFeatures, FeatureReader, FeatureReadError
from server.models.runner import ModelRunner


class DecisionEngine:
    """Implements ``server.engine.protocol.Engine``; thread-safe."""

    def __init__(
        self, runner: ModelRunner, reader: FeatureReader, clock: Callable[[], float] = time.time
    ) -> None:
        manifest = runner.manifest
        self._runner = runner
        self._reader = reader
        self._clock = clock
        self._defaults = dict(manifest.defaults)
        self._inputs = tuple(manifest.models["escalation"].inputs)
        self._segment_columns = self._columns(manifest.models["segment"].inputs)
        if tuple(manifest.models["nba"].inputs) != self._inputs + ACTION_INPUTS:
            raise ModelLoadError(
                f"{runner.version_dir}: nba inputs must be the escalation inputs + actions"
            )
        self._actions = np.eye(len(ACTIONS), dtype=np.float32)
        self._assembler = Assembler(manifest)
        self._closed = threading.Event()

    def _columns(self, names: Sequence[str]) -> np.ndarray:
        """Where each segment input sits in the escalation matrix (computed once)."""
        missing = set(names) - set(self._inputs)
        if missing:
            raise ModelLoadError(f"segment inputs not among the escalation inputs: {missing}")
        return np.array([self._inputs.index(n) for n in names], dtype=np.intp)

    @property
    def model_version(self) -> str:
        return self._runner.version

    def ready(self) -> bool:
        return not self._closed.is_set() and self._reader.ping()

    def decide(self, req: DecisionRequest) -> Decision:
        return self._decide([req], single=True)[0]

    def decide_batch(self, reqs: list[DecisionRequest]) -> list[Decision]:
        return self._decide(reqs, single=False)

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._reader.close()

    # --- internals -------------------------------------------------------------------

    def _decide(self, reqs: Sequence[DecisionRequest], single: bool) -> list[Decision]:
        if self._closed.is_set():
            raise NotReadyError("the decision engine is closed")
        if not reqs:
            return []
        prepared = self._prepare(reqs)
        inputs = self._encode(prepared, single)
        n = len(prepared)
        labels = self._runner.segment(np.ascontiguousarray(inputs[:, self._segment_columns]))
        risks = self._runner.escalation(inputs)
        scores = self._runner.nba(self._nba_matrix(inputs)).reshape(n, len(ACTIONS))
        assemble = self._assembler.decision
        return [
            assemble(p, int(labels[i]), float(risks[i]), scores[i].tolist())
            for i, p in enumerate(prepared)
        ]

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

    def _encode(self, prepared: Sequence[Prepared], single: bool) -> np.ndarray:
        """(n, len(escalation inputs)) float32 matrix, one row per request."""
        rows = []
        for i, p in enumerate(prepared):
            try:
                encoded = encode_inputs(p.raw, p.req.context, self._defaults)
            except UnknownTimeZoneError as exc:
                field = "context.time_zone" if single else f"requests[{i}].context.time_zone"
                raise InvalidRequestError(field, f"unknown IANA time zone {exc}") from None
            rows.append(vector(encoded, self._inputs))
        return np.asarray(rows, dtype=np.float32)

    def _nba_matrix(self, inputs: np.ndarray) -> np.ndarray:
        """Each request's row once per action, with that action's one-hot appended."""
        n, width = inputs.shape
        out = np.empty((n * len(ACTIONS), width + len(ACTIONS)), dtype=np.float32)
        out[:, :width] = np.repeat(inputs, len(ACTIONS), axis=0)
        out[:, width:] = np.tile(self._actions, (n, 1))
        return out
