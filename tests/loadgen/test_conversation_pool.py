"""The conversation workload: Decides laid out as conversations, ids given at send time."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from loadgen.workload import Pool, Workload, build_pool

KNOWN = tuple(f"C{i:07d}" for i in range(500))


def _sent(pool: Pool, count: int, sender: int = 0, start: int = 0) -> list[Any]:
    from personalization.v1 import personalization_pb2 as pb

    return [pb.DecideRequest.FromString(pool.payload(start + i, sender)) for i in range(count)]


def _by_conversation(reqs: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = defaultdict(list)
    for r in reqs:
        out[r.conversation_id].append(r)
    return out


def test_turns_of_a_conversation_are_one_customer_in_order() -> None:
    pool = build_pool(Workload(known_ids=KNOWN, pool_size=4000, conversations=16, seed=3))
    assert 4000 <= len(pool) < 4000 + 16 * 30  # each stream ends with a whole conversation
    convs = _by_conversation(_sent(pool, len(pool)))
    assert len(convs) > 1000
    for turns in convs.values():
        assert len({t.customer_id for t in turns}) == 1
        assert len({(t.context.channel, t.context.locale) for t in turns}) == 1
    # No conversation is cut by the pool's end: turn indices run 1..L in order.
    whole = list(convs.values())
    assert all([x.context.turn_index for x in t] == list(range(1, len(t) + 1)) for t in whole)
    lengths = [len(t) for t in whole]
    assert 2.4 < statistics.mean(lengths) < 3.2  # 1 + Exp(0.45): 2.8
    assert 0.3 < sum(n == 1 for n in lengths) / len(lengths) < 0.42  # 1 - e^-0.45
    sentiments = [t.context.sentiment for c in whole for t in c]
    assert all(-1.0 <= s <= 1.0 for s in sentiments) and len(set(sentiments)) > 1000


def test_ids_differ_by_sender_pass_and_run_and_repeat_within_one() -> None:
    work = Workload(known_ids=KNOWN, pool_size=200, conversations=8, seed=5)
    pool = build_pool(work)
    n = len(pool)
    first = [r.conversation_id for r in _sent(pool, n)]
    assert first == [r.conversation_id for r in _sent(pool, n)]  # same sends, same ids
    second_pass = {r.conversation_id for r in _sent(pool, n, start=n)}
    other_sender = {r.conversation_id for r in _sent(pool, n, sender=1)}
    other_run = {r.conversation_id for r in _sent(build_pool(work), n)}
    for ids in (second_pass, other_sender, other_run):
        assert not ids & set(first)
    # Apart from the id, a second pass sends the same requests.
    again = _sent(pool, n, start=n)
    for a, b in zip(_sent(pool, n), again, strict=True):
        a.ClearField("conversation_id")
        b.ClearField("conversation_id")
        assert a == b


def test_fixed_length_conversations() -> None:
    pool = build_pool(
        Workload(known_ids=KNOWN, pool_size=880, conversations=10, conversation_turns=30)
    )
    convs = _by_conversation(_sent(pool, len(pool)))
    assert len(pool) == 900 and sorted(len(t) for t in convs.values()) == [30] * 30


def test_cli_builds_a_conversation_load_and_refuses_it_for_batches() -> None:
    import pytest

    from loadgen.cli import config_from_args, parser

    p = parser()
    args = ["--target", "localhost:1", "--conversations", "32", "--conversation-turns", "5"]
    work = config_from_args(p.parse_args(args)).workload
    assert (work.conversations, work.conversation_turns) == (32, 5)
    with pytest.raises(ValueError, match="--conversations applies to --rpc decide"):
        config_from_args(p.parse_args([*args, "--rpc", "batch"]))
    with pytest.raises(ValueError, match=">= 0"):
        config_from_args(p.parse_args(["--target", "x:1", "--conversations", "-1"]))
