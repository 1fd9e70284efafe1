"""Conversation state on the decision path: read with the customer, used, then updated.

For the requests of a batch that carry a ``conversation_id`` (and only those: a
request without one reads and writes nothing) the engine

1. reads each conversation's row with the customers' features, in one reader call
   (:meth:`ConversationTracker.read`; one round trip on Redis);
2. attaches it to the prepared request (:func:`attach`): the state is used, as model
   inputs (``modelio.conversation.conversation_inputs``) and by the policy (an action
   that already failed is not chosen again), unless it is missing, unreadable or
   older than ``realtime_stale_s``; then the turn is decided from the batch profile
   as a first turn and ``realtime_fallback_reasons`` says why;
3. after the answers are built, folds each turn into its conversation with a
   compare-and-set (:meth:`ConversationTracker.after_decisions`) the answer does not
   wait for: on Redis queued for the next feature read's pipeline
   (:mod:`server.features.conversation_outbox`), elsewhere (and for a write that lost
   its race) on the writer's thread (:mod:`server.engine.conversation_writer`); a
   conversation's next read sees or waits for its queued updates.

Outcomes carrying a conversation id update its state too
(:meth:`ConversationTracker.after_outcomes`, which waits for the update). A failed or
lost update never fails the answer or the outcome: it is counted
(``personalization_conversation_state_writes_total``) and logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from modelio.conversation import ConversationState, after_outcome, after_turn
from modelio.reward import is_success
from server import metrics
from server.engine.conversation_writer import ConversationWriter
from server.engine.types import Decision, DecisionRequest, Outcome
from server.features.base import CustomerFeatures, FeatureReader
from server.features.conversation import (
    LOST,
    ConversationRead,
    ConversationStore,
    Fold,
    Update,
)

if TYPE_CHECKING:
    from server.engine.assemble import Prepared

log = logging.getLogger(__name__)

#: ``realtime_fallback_reasons`` values (documented in the proto).
NO_STATE = "no_conversation_state"
STALE_STATE = "conversation_state_stale"
UNAVAILABLE_STATE = "conversation_state_unavailable"
#: How long a read waits for its conversation's queued updates, and an outcome for its own.
READ_WAIT_S = 0.1
OUTCOME_WAIT_S = 2.0
WARN_INTERVAL_S = 60.0


class ConversationTracker:
    """The engine's side of :class:`~server.features.conversation.ConversationStore`."""

    def __init__(self, store: ConversationStore, stale_s: float, background: bool = True) -> None:
        """``background``: updates run on a writer thread (else on the caller's)."""
        self.store = store
        self.stale_s = stale_s
        self._warned = -WARN_INTERVAL_S
        self._writer = (
            ConversationWriter(self._apply, idle=self._flush_outbox) if background else None
        )
        # A deferred write that lost its race is redone from a fresh read (slow path).
        store.on_retry = lambda updates: self._submit(
            [(cid, ("turn", fold, None)) for cid, fold, _ in updates]
        )

    def flush(self, timeout_s: float | None = None) -> bool:
        """Send the deferred writes and wait until every submitted update ran."""
        self._flush_outbox()
        return self._writer is None or self._writer.flush(timeout_s)

    def close(self, timeout_s: float | None = None) -> None:
        """Run the queued updates (up to ``timeout_s``) and stop the writer."""
        if self._writer is not None:
            self._writer.close(timeout_s)
        self.store.close()

    def read(
        self, reader: FeatureReader, customer_ids: list[str], reqs: Sequence[DecisionRequest]
    ) -> tuple[list[CustomerFeatures], dict[str, ConversationRead]]:
        """The customers' rows, and the rows of the batch's conversations (by id)."""
        ids = list(dict.fromkeys(r.conversation_id for r in reqs if r.conversation_id))
        if not ids:
            return reader.read(customer_ids), {}
        writer = self._writer
        if writer is not None:
            for cid in ids:
                if writer.pending(cid):  # its previous turn or outcome is still queued
                    writer.wait_for(cid, READ_WAIT_S)
        rows, reads = reader.read_with(customer_ids, self.store, ids)
        return rows, {r.conversation_id: r for r in reads}

    def attach(self, p: Prepared, read: ConversationRead | None, now: float) -> Prepared:
        """``p`` with its conversation's read; the state only if usable."""
        if read is None or read.unavailable:
            return _with(p, read, None, p.realtime_age_seconds, (UNAVAILABLE_STATE,))
        if read.state is None:
            return _with(p, read, None, p.realtime_age_seconds, (NO_STATE,))
        age = read.age_seconds(now)
        if age > self.stale_s:
            return _with(p, read, None, p.realtime_age_seconds, (STALE_STATE,))
        freshest = age if p.realtime_age_seconds < 0 else min(age, p.realtime_age_seconds)
        return _with(p, read, read.state, freshest, ())

    def after_decisions(self, prepared: Sequence[Prepared], decisions: Sequence[Decision]) -> None:
        """Fold each decided turn into its conversation (in batch order, one batch)."""
        updates: list[Update] = [
            (cid, _turn(p.req, d.next_best_action.action, d.decision_id), p.conversation)
            for p, d in zip(prepared, decisions, strict=True)
            if (cid := p.req.conversation_id)
        ]
        if not updates:
            return
        if self.store.deferred and self._writer is not None:
            updates = self.store.defer(updates)
            self._writer.poke()  # sends them if no feature read does within idle_s
        if updates:
            self._submit([(cid, ("turn", fold, first)) for cid, fold, first in updates])

    def after_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        """Set each outcome's result in its conversation's state (when it has one)."""
        items = [
            (
                o.conversation_id,
                ("outcome", _outcome(o.decision_id, is_success(o.resolved, o.escalated)), None),
            )
            for o in outcomes
            if o.conversation_id
        ]
        if not items:
            return
        self._flush_outbox()  # the turns the outcomes are about go first
        self._submit(items)
        if self._writer is not None:
            for cid in {cid for cid, _ in items}:
                self._writer.wait_for(cid, OUTCOME_WAIT_S)

    def _flush_outbox(self) -> None:
        try:
            self.store.flush_outbox()
        except Exception:  # its updates went to the slow path (settle), which counts them
            self._warn("conversation state writes failed; redoing them")

    def _warn(self, message: str) -> None:
        # A store outage fails every update: say so once a minute, not per batch.
        now = time.monotonic()
        if now - self._warned >= WARN_INTERVAL_S:
            self._warned = now
            log.warning(message, exc_info=True)

    def _submit(self, items: list[tuple[str, Any]]) -> None:
        if self._writer is None:
            self._apply(items)
        else:
            self._writer.submit(items)

    def _apply(self, items: Sequence[tuple[str, Any]]) -> None:
        """Run a batch of updates (one read and one write round trip per attempt)."""
        kinds = [kind for _, (kind, _, _) in items]
        try:
            results = self.store.update_many(
                [(cid, fold, first) for cid, (_, fold, first) in items]
            )
        except Exception:  # never fail an answer the caller is about to get
            for kind in kinds:
                metrics.conversation_write(kind, "failed")
            self._warn("conversation state update failed (answers are not affected)")
            return
        for kind, result in zip(kinds, results, strict=True):
            metrics.conversation_write(kind, result)
            if result == LOST:
                log.warning(
                    "conversation state update lost a race %d times; not recorded",
                    self.store.retries,
                    extra={"kind": kind},
                )


def _with(
    p: Prepared,
    read: ConversationRead | None,
    state: ConversationState | None,
    age: float,
    fallback: tuple[str, ...],
) -> Prepared:
    # dataclasses.replace walks the fields on every call: this runs once per turn.
    return type(p)(
        req=p.req,
        raw=p.raw,
        known=p.known,
        consent=p.consent,
        feature_age_seconds=p.feature_age_seconds,
        not_personalized_reason=p.not_personalized_reason,
        degraded_reasons=p.degraded_reasons,
        realtime_age_seconds=age,
        conversation=read,
        conversation_state=state,
        realtime_fallback=fallback,
    )


def _turn(req: DecisionRequest, action: str, decision_id: str) -> Fold:
    """The fold of one decided turn (at the turn's own time, as training folds it)."""
    ctx = req.context
    at_s = ctx.event_time.timestamp()

    def fold(state: ConversationState | None) -> ConversationState:
        if state is not None and decision_id in state.decision_ids:
            return state  # already folded in (a write retried after a lost reply)
        return after_turn(state, at_s, ctx.sentiment, ctx.issue_category, action, decision_id)

    return fold


def _outcome(decision_id: str, success: bool) -> Fold:
    """The fold of one outcome; None (nothing to write) if the decision is not remembered."""

    def fold(state: ConversationState | None) -> ConversationState | None:
        return None if state is None else after_outcome(state, decision_id, success)

    return fold
