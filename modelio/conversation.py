"""Conversation state: what happened earlier in the same conversation, as model inputs.

One definition for the server (which keeps the state in the online store, one row per
conversation of ``conversation_state_fv``, updated after every decision and outcome)
and for training (which folds the same updates over a conversation's earlier turns,
point in time), so the inputs a model was trained on are the inputs it is served.

The state is a fold: :func:`after_turn` once per decided turn, :func:`after_outcome`
once per outcome the bot backend reports. :func:`conversation_inputs` turns the state
(or its absence, on a first turn) plus the current turn into model inputs; the
current turn is always included, so a first turn's inputs are defined without state.
:func:`to_row` / :func:`from_row` map the state to the feature view's raw values and
back (exactly: floats as stored, strings for the sequences); :func:`row_values` /
:func:`from_values` do the same in schema order, for the server's own codec.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from modelio.vocab import ACTIONS, ISSUE_CATEGORIES

#: The feature view that holds one row per conversation, and its entity's join key.
CONVERSATION_VIEW = "conversation_state_fv"
CONVERSATION_KEY = "conversation_id"
#: How long an idle conversation's state is kept (the view's TTL); older state is absent.
IDLE_TTL_S = 1800.0
#: At most this many decisions are remembered (the latest ones); older are forgotten.
MAX_REMEMBERED = 20
#: Outcome codes of a remembered decision.
UNKNOWN, FAILED, SUCCEEDED = -1, 0, 1
_OUTCOME_CHARS = {UNKNOWN: "?", FAILED: "0", SUCCEEDED: "1"}
_OUTCOME_CODES = {c: code for code, c in _OUTCOME_CHARS.items()}
_MAX_SECONDS = 4 * 3600.0
_CATEGORY_BITS = {c: 1 << i for i, c in enumerate(ISSUE_CATEGORIES)}

#: Raw features of ``conversation_state_fv``, in its schema order.
CONVERSATION_FEATURES: tuple[str, ...] = (
    "started_s",
    "turns",
    "first_sentiment",
    "min_sentiment",
    "last_sentiment",
    "categories_mask",
    "actions",
    "outcomes",
    "decision_ids",
)
#: Model inputs computed by :func:`conversation_inputs`, in column order.
CONVERSATION_INPUTS: tuple[str, ...] = (
    "has_conversation",
    "conv_prior_turns",
    "conv_seconds",
    "conv_first_sentiment",
    "conv_min_sentiment",
    "conv_sentiment_change",
    "conv_sentiment_step",
    "conv_categories_seen",
    "conv_failed_count",
    "conv_last_failed",
    *(f"failed_{a}" for a in ACTIONS),
)


class ConversationState(NamedTuple):
    """A conversation's turns so far (the current one excluded) and their decisions.

    ``actions``, ``outcomes`` and ``decision_ids`` are parallel, oldest first, at most
    :data:`MAX_REMEMBERED` long; ``outcomes`` holds :data:`UNKNOWN` until reported.
    A named tuple, not a dataclass: every turn builds one and decodes one, on the
    request's thread, and a tuple is built several times faster.
    """

    started_s: float
    turns: int
    first_sentiment: float
    min_sentiment: float
    last_sentiment: float
    categories_mask: int
    actions: tuple[str, ...]
    outcomes: tuple[int, ...]
    decision_ids: tuple[str, ...]


def after_turn(
    state: ConversationState | None,
    at_s: float,
    sentiment: float,
    category: str,
    action: str,
    decision_id: str,
) -> ConversationState:
    """The state once a turn at ``at_s`` (unix s) was decided with ``action``."""
    bit = _CATEGORY_BITS.get(category, 0)
    sentiment = float(sentiment)
    if state is None:
        return ConversationState(
            float(at_s),
            1,
            sentiment,
            sentiment,
            sentiment,
            bit,
            (action,),
            (UNKNOWN,),
            (decision_id,),
        )
    keep = slice(-(MAX_REMEMBERED - 1), None)
    return ConversationState(
        started_s=state.started_s,
        turns=state.turns + 1,
        first_sentiment=state.first_sentiment,
        min_sentiment=min(state.min_sentiment, sentiment),
        last_sentiment=sentiment,
        categories_mask=state.categories_mask | bit,
        actions=(*state.actions[keep], action),
        outcomes=(*state.outcomes[keep], UNKNOWN),
        decision_ids=(*state.decision_ids[keep], decision_id),
    )


def after_outcome(
    state: ConversationState, decision_id: str, success: bool
) -> ConversationState | None:
    """The state with ``decision_id``'s outcome set; None when the decision is not
    remembered (another conversation's, or forgotten), so the caller can say so."""
    try:
        i = state.decision_ids.index(decision_id)
    except ValueError:
        return None
    outcomes = list(state.outcomes)
    outcomes[i] = SUCCEEDED if success else FAILED
    return state._replace(outcomes=tuple(outcomes))


def failed_actions(state: ConversationState | None) -> frozenset[str]:
    """Actions whose outcome in this conversation was a failure (the policy skips them)."""
    if state is None:
        return frozenset()
    return frozenset(a for a, o in zip(state.actions, state.outcomes, strict=True) if o == FAILED)


def conversation_inputs(
    state: ConversationState | None, at_s: float, sentiment: float, category: str
) -> dict[str, float]:
    """Model inputs of the current turn (at ``at_s``, with its sentiment and category)
    given the state of the conversation's earlier turns (None: the first turn)."""
    sentiment = float(sentiment)
    out = dict.fromkeys(CONVERSATION_INPUTS, 0.0)
    out["conv_first_sentiment"] = out["conv_min_sentiment"] = sentiment
    out["conv_categories_seen"] = 1.0
    if state is None:
        return out
    failed = failed_actions(state)
    out["has_conversation"] = 1.0
    out["conv_prior_turns"] = float(min(state.turns, 50))
    out["conv_seconds"] = min(max(at_s - state.started_s, 0.0), _MAX_SECONDS)
    out["conv_first_sentiment"] = state.first_sentiment
    out["conv_min_sentiment"] = min(state.min_sentiment, sentiment)
    out["conv_sentiment_change"] = sentiment - state.first_sentiment
    out["conv_sentiment_step"] = sentiment - state.last_sentiment
    mask = state.categories_mask | _CATEGORY_BITS.get(category, 0)
    out["conv_categories_seen"] = float(mask.bit_count())
    out["conv_failed_count"] = float(sum(1 for o in state.outcomes if o == FAILED))
    out["conv_last_failed"] = 1.0 if state.outcomes and state.outcomes[-1] == FAILED else 0.0
    for action in failed:
        out[f"failed_{action}"] = 1.0
    return out


def row_values(state: ConversationState) -> tuple[Any, ...]:
    """The state as raw values of :data:`CONVERSATION_VIEW`, in
    :data:`CONVERSATION_FEATURES` order (what :func:`to_row` maps by name)."""
    return (
        state.started_s,
        state.turns,
        state.first_sentiment,
        state.min_sentiment,
        state.last_sentiment,
        state.categories_mask,
        ",".join(state.actions),
        _outcome_chars(state.outcomes),
        ",".join(state.decision_ids),
    )


def to_row(state: ConversationState) -> dict[str, Any]:
    """The state as raw values of :data:`CONVERSATION_VIEW` (:data:`CONVERSATION_FEATURES`)."""
    return dict(zip(CONVERSATION_FEATURES, row_values(state), strict=True))


def from_values(values: Sequence[Any]) -> ConversationState | None:
    """:func:`from_row` of the raw values in :data:`CONVERSATION_FEATURES` order."""
    if len(values) != len(CONVERSATION_FEATURES) or any(v is None for v in values):
        return None
    started, turns, first, lowest, last, mask, actions, outcomes, ids = values
    acts = tuple(str(actions).split(",")) if actions else ()
    decided = tuple(str(ids).split(",")) if ids else ()
    codes = _outcome_codes(str(outcomes))
    if not (len(acts) == len(decided) == len(codes)) or int(turns) < 1:
        return None
    return ConversationState(
        float(started), int(turns), float(first), float(lowest), float(last), int(mask),
        acts, codes, decided,
    )  # fmt: skip


@lru_cache(maxsize=4096)
def _outcome_chars(outcomes: tuple[int, ...]) -> str:
    return "".join([_OUTCOME_CHARS[o] for o in outcomes])


@lru_cache(maxsize=4096)
def _outcome_codes(outcomes: str) -> tuple[int, ...]:
    # Few distinct strings (up to MAX_REMEMBERED of three characters, mostly '?'):
    # decoded once each.
    return tuple([_OUTCOME_CODES.get(c, UNKNOWN) for c in outcomes])


def from_row(values: Mapping[str, Any]) -> ConversationState | None:
    """The state from raw values as a reader returns them; None when the row is absent
    or incomplete (a partial row is not trusted: the turn is treated as a first one)."""
    return from_values([values.get(name) for name in CONVERSATION_FEATURES])
