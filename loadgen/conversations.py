"""Decides laid out as conversations, the way a bot backend sends them.

A conversation belongs to one customer and has ``L`` turns, ``turn_index`` 1 to ``L``,
on one channel, device, time zone and locale; its sentiment drifts from turn to turn
and its issue category sometimes changes. ``L`` is drawn as the plain workload draws
``turn_index`` (1 + Exp(0.45), at most 30: 36 % of conversations end after one turn,
the mean is 2.8), or fixed (``Workload.conversation_turns``, e.g. 25 to keep every
state at its largest).

``Workload.conversations`` conversations are in progress at once: the pool takes one
turn of each in turn, so a conversation's turns are that many requests apart, in order.
The ids in the pool are bases: :meth:`loadgen.workload.Pool.payload` appends the sender
and its pass over the pool (and a nonce per process), so every sender runs
conversations of its own and a second pass, or a second run, starts new ones instead
of growing the first ones' state without end.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loadgen.workload import Workload

#: Chance that a conversation's issue category changes at a turn.
CATEGORY_SWITCH = 0.15
#: Standard deviation of the sentiment's step between two turns.
SENTIMENT_STEP = 0.25


def conversation_length(rng: random.Random, fixed: int = 0) -> int:
    """Turns of one conversation: ``fixed``, else 1 + Exp(0.45) capped at 30."""
    return fixed or min(1 + int(rng.expovariate(0.45)), 30)


def conversation_pool(
    rng: random.Random, work: Workload, worker: int, size: int
) -> tuple[list[Any], list[str]]:
    """About ``size`` DecideRequests (without ``conversation_id``) and the base id of
    each. Every stream ends with a whole conversation (the pool may run a conversation
    past ``size``), so a pass over the pool cuts none: the next pass starts new ones."""
    width = max(1, min(work.conversations, size))
    streams: list[list[tuple[Any, str]]] = []
    started = 0
    for _ in range(width):
        stream: list[tuple[Any, str]] = []
        while len(stream) < size / width:
            name = f"lg{worker}c{started}"
            started += 1
            stream += [(req, name) for req in _conversation(rng, work)]
        streams.append(stream)
    reqs: list[Any] = []
    ids: list[str] = []
    for turn in range(max(len(s) for s in streams)):  # one turn of each in turn
        for stream in streams:
            if turn < len(stream):
                req, name = stream[turn]
                req.request_id = f"lg{worker}-{len(reqs)}"
                reqs.append(req)
                ids.append(name)
    return reqs, ids


def _conversation(rng: random.Random, work: Workload) -> list[Any]:
    """The turns of one conversation, in order: the first turn's customer and context,
    then its sentiment drifting and, now and then, its issue category changing."""
    from loadgen.workload import CATEGORIES, decide_request, pick

    first = decide_request(rng, work, "")
    sentiment, category = first.context.sentiment, first.context.issue_category
    turns = []
    for t in range(1, conversation_length(rng, work.conversation_turns) + 1):
        if t > 1:
            sentiment = max(-1.0, min(1.0, sentiment + rng.gauss(0, SENTIMENT_STEP)))
            if rng.random() < CATEGORY_SWITCH:
                category = pick(rng, CATEGORIES)
        req = type(first)(customer_id=first.customer_id)
        req.context.CopyFrom(first.context)
        req.context.turn_index = t
        req.context.sentiment = sentiment
        req.context.issue_category = category
        turns.append(req)
    return turns
