"""One version as the engine serves it, an experiment as one snapshot, and the per-version
scoring every batch runs: encode, three models, the policy.

Plain Python over numpy, no grpc: :class:`~server.engine.decide.DecisionEngine` reads
one :class:`Snapshot` per batch, so a whole batch runs on the experiment it started with.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from modelio.context import UnknownTimeZoneError, encode_inputs, vector, zone
from modelio.conversation import CONVERSATION_INPUTS, conversation_inputs
from modelio.experiment import SHADOW_PREFIX
from modelio.policy import Choice
from modelio.vocab import ACTIONS
from server.engine.assemble import Assembler, Prepared
from server.engine.records import DecisionColumns
from server.engine.types import Decision
from server.errors import InvalidRequestError
from server.models.bundle import ModelBundle
from server.models.experiment import ServedExperiment
from server.tracing import span

#: One row per action: the one-hots appended to a request's inputs for the reward model.
log = logging.getLogger(__name__)

_ACTION_ONE_HOTS = np.eye(len(ACTIONS), dtype=np.float32)
_CONVERSATION_INPUTS = frozenset(CONVERSATION_INPUTS)


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
class Served:
    """A model version with the engine's per-version assembler, swapped as one."""

    bundle: ModelBundle
    assembler: Assembler
    #: Versions with equal keys encode a request identically (inputs + defaults).
    encoding: tuple[object, ...]

    @classmethod
    def of(cls, bundle: ModelBundle) -> Served:
        encoding = (bundle.inputs, tuple(sorted(bundle.defaults.items())))
        return cls(bundle, Assembler(bundle.manifest), encoding)


@dataclass(frozen=True, slots=True, eq=False)
class Snapshot:
    """An experiment as the engine serves it: swapped as one reference."""

    spec: ServedExperiment
    arms: tuple[Served, ...]
    names: tuple[str, ...]
    salt: str
    cumulative: tuple[float, ...]
    shadows: tuple[Served, ...]
    default: Served
    #: One arm and no shadow: the single-version path (no assignment at all).
    single: bool

    @classmethod
    def of(cls, spec: ServedExperiment) -> Snapshot:
        built: dict[int, Served] = {}  # one Served per bundle, shared by its arms

        def served(bundle: ModelBundle) -> Served:
            if id(bundle) not in built:
                built[id(bundle)] = Served.of(bundle)
            return built[id(bundle)]

        exp = spec.experiment
        arms = tuple(served(a.bundle) for a in spec.arms)
        return cls(
            spec=spec,
            arms=arms,
            names=tuple(a.name for a in spec.arms),
            salt=exp.salt if exp is not None else "",
            cumulative=exp.cumulative() if exp is not None else (1.0,),
            shadows=tuple(served(b) for b in spec.shadows),
            default=served(spec.default.bundle),
            single=len(arms) == 1 and not spec.shadows,
        )


def score(
    served: Served, arm: str, prepared: Sequence[Prepared], inputs: np.ndarray
) -> tuple[list[tuple[Decision, Choice]], np.ndarray]:
    """Run one version's three models over ``inputs`` and apply its policy; the
    decisions with their choices, and the (n, actions) predicted-success matrix."""
    bundle = served.bundle
    n = len(prepared)
    runner = bundle.runner
    with span("models", version=bundle.version, arm=arm, rows=n):
        segment = np.ascontiguousarray(inputs[:, bundle.segment_columns])
        labels, risks, flat = runner.run_all(segment, inputs, nba_matrix(inputs))
        scores = flat.reshape(n, len(ACTIONS))
    with span("policy"):
        assemble = served.assembler.decision_and_choice
        score_lists: list[list[float]] = scores.tolist()
        decided = [
            assemble(p, int(labels[i]), float(risks[i]), score_lists[i], arm)
            for i, p in enumerate(prepared)
        ]
    return decided, scores


def encode(bundle: ModelBundle, prepared: Sequence[Prepared], single: bool) -> np.ndarray:
    """(n, len(escalation inputs)) float32 matrix, one row per request.

    A version whose inputs include ``modelio.conversation.CONVERSATION_INPUTS`` gets
    them from the request's conversation state (as a first turn without one); older
    versions never compute them."""
    conversational = not _CONVERSATION_INPUTS.isdisjoint(bundle.inputs)
    rows = []
    for i, p in enumerate(prepared):
        ctx = p.req.context
        try:
            encoded = encode_inputs(p.raw, ctx, bundle.defaults)
        except UnknownTimeZoneError as exc:
            field = "context.time_zone" if single else f"requests[{i}].context.time_zone"
            raise invalid_time_zone(field, exc) from None
        if conversational:
            at_s = ctx.event_time.timestamp()
            state = p.conversation_state
            encoded.update(conversation_inputs(state, at_s, ctx.sentiment, ctx.issue_category))
        rows.append(vector(encoded, bundle.inputs))
    return np.asarray(rows, dtype=np.float32)


def nba_matrix(inputs: np.ndarray) -> np.ndarray:
    """Each request's row once per action, with that action's one-hot appended."""
    n, width = inputs.shape
    out = np.empty((n * len(ACTIONS), width + len(ACTIONS)), dtype=np.float32)
    out[:, :width] = np.repeat(inputs, len(ACTIONS), axis=0)
    out[:, width:] = np.tile(_ACTION_ONE_HOTS, (n, 1))
    return out


def shadow_columns(
    shadow: Served,
    prepared: list[Prepared],
    matrix: Callable[[Served], np.ndarray],
    served: DecisionColumns,
) -> DecisionColumns | None:
    """One shadow version's log rows for the batch; None (logged) if it fails."""
    version = shadow.bundle.version
    try:
        inputs = matrix(shadow)
        got, scores = score(shadow, SHADOW_PREFIX + version, prepared, inputs)
        return DecisionColumns(prepared, got, inputs, scores, served.ts, served=served)
    except Exception:  # a shadow never fails or changes the answer
        log.warning("shadow version %s failed; its rows are skipped", version, exc_info=True)
        return None
