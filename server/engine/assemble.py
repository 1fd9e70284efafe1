"""Per-request half of the engine: features -> model inputs, and scores -> a Decision.

Rules that are ours (not the shared policy's), documented here once:

* **Personalized** means the customer was found in the online store (an unexpired row
  of some view) AND opted in (``modelio.context.has_consent``). Otherwise
  ``not_personalized_reason`` is ``unknown_customer``, ``no_consent`` or, when the store
  failed, ``features_unavailable`` (the decision is then also ``degraded``).
* **Segment** of a non-personalized answer is ``Segment(id=-1, name="unknown")``: the
  segment model only sees profile and engagement inputs, which are defaults then, so
  its label would describe the defaults, not the customer.
* **Plan tier** gates ``priority_queue`` only with consent: without it the profile is
  not used at all, so the answer equals a defaults-only customer's.
* **Style**: preferred formality/language only when personalized; else no formality and
  the language of the turn's locale (``es-MX`` -> ``es``).
* **Alternatives**: the other *eligible* actions, best predicted success first.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelio.context import has_consent
from modelio.conversation import ConversationState, failed_actions
from modelio.manifest import Manifest
from modelio.policy import (
    Choice,
    Eligibility,
    choose,
    eligibility_of,
    eligible_mask,
    exploration_draw,
    risk_band,
)
from modelio.vocab import ACTIONS, FORMALITIES, LANGUAGES
from server.engine.types import (
    Decision,
    DecisionRequest,
    EscalationRisk,
    NextBestAction,
    ScoredAction,
    Segment,
    StyleHints,
)
from server.features.base import CustomerFeatures, FeatureReader, FeatureReadError
from server.features.conversation import ConversationRead
from server.tracing import span

if TYPE_CHECKING:
    from server.engine.conversations import ConversationTracker

UNKNOWN_SEGMENT = Segment(id=-1, name="unknown")
_EMPTY: Mapping[str, Any] = {}


@dataclass(frozen=True, slots=True)
class Prepared:
    """One request with the customer's usable raw features and who they are."""

    req: DecisionRequest
    raw: Mapping[str, Any]
    known: bool
    consent: bool
    feature_age_seconds: float
    not_personalized_reason: str
    degraded_reasons: tuple[str, ...]
    #: Age of the freshest real-time row used (-1: none; server.engine.conversations).
    realtime_age_seconds: float = -1.0
    #: The conversation's row as read (None without conversation_id) and its state when
    #: used; ``realtime_fallback`` says why it was not.
    conversation: ConversationRead | None = None
    conversation_state: ConversationState | None = None
    realtime_fallback: tuple[str, ...] = ()

    @property
    def personalized(self) -> bool:
        return not self.not_personalized_reason


def prepare(req: DecisionRequest, found: CustomerFeatures | None, now: float) -> Prepared:
    """``found`` is None when the store could not be read (see :func:`prepare_degraded`)."""
    # Set on rows server.features.guard made up after a failed read (cached or empty).
    reasons: tuple[str, ...] = getattr(found, "degraded_reasons", ())
    if found is None or not found.found:
        if reasons:
            return prepare_degraded(req, reasons[0])
        return Prepared(req, _EMPTY, False, False, -1.0, "unknown_customer", ())
    consent = has_consent(found.values)
    realtime = found.realtime_time
    return Prepared(
        req,
        found.values,
        True,
        consent,
        found.age_seconds(now),
        "" if consent else "no_consent",
        reasons,
        max(0.0, now - realtime) if realtime > 0 else -1.0,
    )


def read_prepared(
    reader: FeatureReader,
    reqs: Sequence[DecisionRequest],
    clock: Callable[[], float],
    conversations: ConversationTracker | None = None,
) -> list[Prepared]:
    """One reader call for the batch's distinct customers (and, with ``conversations``,
    the conversations of the requests that name one), then each request prepared;
    every request degraded (``prepare_degraded``) if the read fails."""
    unique = list(dict.fromkeys(r.customer_id for r in reqs))
    reads: dict[str, ConversationRead] = {}
    try:
        with span("feature_read", customers=len(unique)):
            if conversations is None:
                rows = reader.read(unique)
            else:
                rows, reads = conversations.read(reader, unique, reqs)
    except FeatureReadError as exc:
        now = 0.0  # unused: a failed read attaches no conversation state
        out = [prepare_degraded(r, exc.reason) for r in reqs]
    else:
        found: dict[str, CustomerFeatures] = {row.customer_id: row for row in rows}
        now = clock()
        out = [prepare(r, found.get(r.customer_id), now) for r in reqs]
    if conversations is None:
        return out
    # A conversation missing from ``reads`` (the read failed) is attached as unavailable.
    return [
        conversations.attach(p, reads.get(p.req.conversation_id), now)
        if p.req.conversation_id
        else p
        for p in out
    ]


def prepare_degraded(req: DecisionRequest, reason: str) -> Prepared:
    """The store failed: answer from the turn and defaults, flagged degraded."""
    return Prepared(req, _EMPTY, False, False, -1.0, "features_unavailable", (reason,))


def locale_language(locale: str) -> str:
    """ISO 639-1 primary subtag of a BCP 47 locale (``pt-BR`` -> ``pt``), else ``""``."""
    primary = locale.replace("_", "-").split("-", 1)[0].lower()
    return primary if len(primary) == 2 and primary.isalpha() else ""


def style_hints(p: Prepared) -> StyleHints:
    fallback = locale_language(p.req.context.locale)
    if not p.personalized:
        return StyleHints(formality="", language=fallback)
    formality = p.raw.get("preferred_formality")
    language = p.raw.get("preferred_language")
    return StyleHints(
        formality=formality if formality in FORMALITIES else "",
        language=language if language in LANGUAGES else fallback,
    )


class Assembler:
    """Turns one request's model outputs into a :class:`Decision` with the manifest's
    policy. Stateless after construction, so it is safe to share between threads."""

    def __init__(self, manifest: Manifest) -> None:
        self._config = manifest.policy
        self._version = manifest.version
        self._segments = {s.id: Segment(s.id, s.name) for s in manifest.segments}
        self._masks: dict[Eligibility, tuple[bool, ...]] = {}  # a handful of distinct ones

    def _mask(self, who: Eligibility, failed: frozenset[str]) -> tuple[bool, ...]:
        if failed:  # conversation-specific: not worth caching
            return eligible_mask(who, self._config, failed)
        mask = self._masks.get(who)
        if mask is None:
            mask = self._masks[who] = eligible_mask(who, self._config)
        return mask

    def segment(self, p: Prepared, label: int) -> Segment:
        if not p.personalized:
            return UNKNOWN_SEGMENT
        return self._segments.get(label) or Segment(label, f"segment_{label}")

    def next_best_action(self, p: Prepared, risk: float, scores: Sequence[float]) -> NextBestAction:
        return self._next_best_action(p, risk, scores)[0]

    def _next_best_action(
        self, p: Prepared, risk: float, scores: Sequence[float]
    ) -> tuple[NextBestAction, Choice]:
        ctx = p.req.context
        mask = self._mask(eligibility_of(p.raw), failed_actions(p.conversation_state))
        draw = exploration_draw(
            p.req.customer_id, ctx.event_time.isoformat(), str(ctx.turn_index), p.req.request_id
        )
        choice = choose(scores, mask, risk, ctx.sentiment, self._config, draw)
        chosen = ACTIONS.index(choice.action)
        ranked = sorted(
            (i for i, ok in enumerate(mask) if ok and i != chosen), key=lambda i: -scores[i]
        )
        nba = NextBestAction(
            action=choice.action,
            predicted_success=float(scores[chosen]),
            propensity=choice.propensity,
            reason_codes=choice.reason_codes,
            alternatives=tuple(ScoredAction(ACTIONS[i], float(scores[i])) for i in ranked),
        )
        return nba, choice

    def decision(self, p: Prepared, label: int, risk: float, scores: Sequence[float]) -> Decision:
        return self.decision_and_choice(p, label, risk, scores)[0]

    def decision_and_choice(
        self, p: Prepared, label: int, risk: float, scores: Sequence[float], arm: str = ""
    ) -> tuple[Decision, Choice]:
        """The decision plus the policy's :class:`~modelio.policy.Choice` it came from
        (its full ``probabilities`` go to the decision log, not to the caller)."""
        nba, choice = self._next_best_action(p, risk, scores)
        decision = Decision(
            decision_id=uuid.uuid4().hex,
            request_id=p.req.request_id,
            segment=self.segment(p, label),
            escalation_risk=EscalationRisk(risk, risk_band(risk, self._config)),
            next_best_action=nba,
            style=style_hints(p),
            personalized=p.personalized,
            degraded_reasons=p.degraded_reasons,
            not_personalized_reason=p.not_personalized_reason,
            feature_age_seconds=p.feature_age_seconds,
            model_version=self._version,
            arm=arm,
            realtime_age_seconds=p.realtime_age_seconds,
            realtime_fallback_reasons=p.realtime_fallback,
        )
        return decision, choice
