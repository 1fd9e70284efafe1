"""MicroBatcher: overlapping calls are decided together, each gets its own outcome."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from server.engine.batcher import MicroBatcher


class Recorder:
    """A batch function that records its batches and can hold the first one open."""

    def __init__(self, hold_first: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.threads: list[str] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()

    def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        self.threads.append(threading.current_thread().name)
        self.entered.set()
        assert self.release.wait(10)
        if -1 in items:
            raise ValueError("bad item in batch")
        return [i * 10 for i in items]


def wait_queued(batcher: MicroBatcher, n: int) -> None:
    for _ in range(1000):
        if len(batcher._queue) >= n:
            return
        threading.Event().wait(0.005)
    raise AssertionError(f"{len(batcher._queue)} calls queued, expected {n}")


def test_a_lone_call_runs_at_once_on_its_own_thread() -> None:
    run = Recorder()
    batcher = MicroBatcher(run, max_batch=8)
    assert batcher.submit(4) == 40
    assert run.batches == [[4]] and run.threads == [threading.current_thread().name]
    assert not batcher._busy


def run_held(max_batch: int, items: range) -> tuple[Recorder, MicroBatcher, list[int]]:
    """Submit ``items[0]``, hold its batch open until the others queued, then release;
    returns the recorder, the batcher and every call's result in submission order."""
    run = Recorder(hold_first=True)
    batcher = MicroBatcher(run, max_batch=max_batch)
    with ThreadPoolExecutor(len(items)) as pool:
        first = pool.submit(batcher.submit, items[0])
        assert run.entered.wait(5)
        rest = [pool.submit(batcher.submit, i) for i in items[1:]]
        wait_queued(batcher, len(rest))
        run.release.set()
        return run, batcher, [first.result(5)] + [f.result(5) for f in rest]


def test_calls_arriving_during_a_batch_share_the_next_one() -> None:
    run, batcher, results = run_held(8, range(6))
    assert results == [0, 10, 20, 30, 40, 50]
    assert run.batches[0] == [0]
    assert sorted(run.batches[1]) == [1, 2, 3, 4, 5]  # one batch for all who waited
    assert batcher.batches == 2 and batcher.items == 6


def test_max_batch_splits_the_queue() -> None:
    run, _, results = run_held(2, range(6))
    assert results == [0, 10, 20, 30, 40, 50]
    assert [len(b) for b in run.batches] == [1, 2, 2, 1]
    assert sorted(i for b in run.batches for i in b) == list(range(6))


def test_an_error_reaches_every_call_of_its_batch_only() -> None:
    run = Recorder(hold_first=True)
    batcher = MicroBatcher(run, max_batch=2)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(batcher.submit, 7)
        assert run.entered.wait(5)
        bad = pool.submit(batcher.submit, -1)
        wait_queued(batcher, 1)
        partner = pool.submit(batcher.submit, 3)
        wait_queued(batcher, 2)
        later = pool.submit(batcher.submit, 5)
        wait_queued(batcher, 3)
        run.release.set()
        assert first.result(5) == 70
        with pytest.raises(ValueError, match="bad item"):
            bad.result(5)
        with pytest.raises(ValueError, match="bad item"):
            partner.result(5)
        assert later.result(5) == 50  # the next batch runs normally
    assert batcher.submit(2) == 20 and not batcher._busy


def test_a_wrong_number_of_results_is_an_error_not_a_hang() -> None:
    batcher: MicroBatcher[int, int] = MicroBatcher(lambda items: [], max_batch=4)
    with pytest.raises(RuntimeError, match="returned 0 results"):
        batcher.submit(1)
    assert not batcher._busy


def test_many_threads_each_get_their_own_answer() -> None:
    batcher: MicroBatcher[int, int] = MicroBatcher(lambda items: [i * 10 for i in items], 16)
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(batcher.submit, range(3000)))
    assert results == [i * 10 for i in range(3000)]
    assert batcher.items == 3000 and not batcher._busy and not batcher._queue


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MicroBatcher(lambda items: items, max_batch=0)
