"""Fixtures of this folder: ``world``, a simulated repo (SQLite and Redis), logs and an
exported training set, from which ``forget`` has erased two customers (one in process, one
by a subprocess)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pandas as pd
import pytest

from bench.prepare import copy_repo
from tests.support.erasure import (
    AUDIT_KEY,
    CUSTOMERS,
    World,
    online,
    pick_customers,
    rows_without,
    run_in_process,
    run_subprocess,
    write_logs,
)
from tests.support.feast import FeastFixture, apply, materialize
from tests.support.redis_server import start_redis
from tests.training.conftest import simulate_into


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("forget")
    repo = copy_repo(root / "feature_repo")
    data = repo / "data"
    simulate_into(data, CUSTOMERS, seed=5)
    redis = start_redis(root)
    try:
        fixture = FeastFixture(repo, datetime.now(UTC).replace(microsecond=0), ())
        apply(repo)
        materialize(fixture, "sqlite")
        materialize(fixture, "redis", redis.address)  # applies the redis registry first
        chosen, consent = pick_customers(data)
        erased, kept = (chosen[0], chosen[1]), tuple(chosen[2:])
        everyone = [*erased, *kept, consent]
        before = {
            "sqlite": online(repo, "sqlite", None, everyone),
            "redis": online(repo, "redis", redis.address, everyone),
        }
        for store in before.values():
            for cid in everyone:  # every chosen customer is really served before
                assert any(v is not None for v in store[cid].values()), cid
        decisions = pd.read_parquet(data / "decisions.parquet")
        tickets = pd.read_parquet(data / "tickets.parquet")
        linked = set(decisions.loc[decisions["customer_id"].isin(erased), "decision_id"]) | set(
            tickets.loc[tickets["customer_id"].isin(erased), "ticket_id"]
        )
        rows_before = rows_without(data, set(erased), linked)
        write_logs(root / "logs", everyone)
        (root / "artifacts").mkdir()
        tickets.to_parquet(root / "artifacts" / "training_set.parquet", index=False)
        w = World(repo, data, root / "logs", redis, erased, kept, consent, before,
                  {"linked": linked}, rows_before, [])  # fmt: skip

        mp = pytest.MonkeyPatch()
        mp.setenv("PERSONALIZATION_AUDIT_HMAC_KEY", AUDIT_KEY)
        try:
            code, out = run_in_process(w.args(erased[0]))
        finally:
            mp.undo()
        assert code == 0, out
        w.outputs.append(out)
        code, out = run_subprocess(w.args(erased[1]))
        assert code == 0, out
        w.outputs.append(out)
        yield w
    finally:
        redis.stop()
