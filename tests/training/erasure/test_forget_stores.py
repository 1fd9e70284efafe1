"""Erasure in one store at a time: the offline eraser streams parquet row groups (dictionary
ids, nulls, linked ids) and leaves files without matches alone; forget deletes the Feast key
through a Redis Cluster client."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.support.erasure import online, run_in_process
from tests.support.feast import materialize

pytestmark = pytest.mark.redis


def test_offline_erasure_streams_row_groups_and_keeps_the_rest(tmp_path: Path) -> None:
    """Unit level: many row groups, dictionary-encoded and null ids, linked ids, a file
    without matches left byte-for-byte alone."""
    import pyarrow as pa

    from training.erasure.offline import erase_offline

    ids = [f"K{i:05d}" if i % 50 else None for i in range(1000)]
    table = pa.table({
        "customer_id": pa.array(ids).dictionary_encode(),
        "ticket_id": [f"T{i}" for i in range(1000)],
        "value": list(range(1000)),
    })  # fmt: skip
    pq.write_table(table, tmp_path / "big.parquet", row_group_size=100, compression="snappy")
    pq.write_table(pa.table({"ticket_id": ["T7", "T8", "T999"]}), tmp_path / "linked.parquet")
    pq.write_table(pa.table({"customer_id": ["X"]}), tmp_path / "other.parquet")
    untouched = (tmp_path / "other.parquet").read_bytes()

    outcomes = {o.place: o for o in erase_offline(tmp_path, ["K00007", "K00999", "K12345"])}

    assert outcomes["big.parquet"].removed == {"K00007": 1, "K00999": 1}
    assert outcomes["linked.parquet"].removed == {"K00007": 1, "K00999": 1}
    assert outcomes["other.parquet"].removed == {}
    assert (tmp_path / "other.parquet").read_bytes() == untouched
    big = pq.ParquetFile(tmp_path / "big.parquet")
    assert big.metadata.num_row_groups == 10
    assert big.metadata.row_group(0).column(0).compression == "SNAPPY"
    assert big.schema_arrow == table.schema
    left = big.read().to_pydict()
    assert left["value"] == [v for v in range(1000) if v not in (7, 999)]
    assert left["customer_id"].count(None) == 20
    assert pq.read_table(tmp_path / "linked.parquet").column("ticket_id").to_pylist() == ["T8"]
    assert not list(tmp_path.glob(".*tmp"))


def test_forget_on_redis_cluster(tmp_path: Path) -> None:
    """The same Feast key, deleted through the cluster client (slot routing)."""
    from tests.support.cluster import SingleNodeCluster
    from tests.support.feast import build_feast_repo

    fixture = build_feast_repo(tmp_path / "repo", n=30)
    cluster = SingleNodeCluster(tmp_path / "cluster")
    try:
        materialize(fixture, "redis_cluster", cluster.address)
        gone, kept = fixture.known_ids[1], fixture.known_ids[2]
        before = online(fixture.repo, "redis_cluster", cluster.address, [gone, kept])
        assert any(v is not None for v in before[gone].values())
        argv = [gone, "--repo", str(fixture.repo), "--online-store", "redis_cluster",
                "--redis", cluster.address]  # fmt: skip
        code, out = run_in_process(argv)
        assert code == 0, out
        assert "online   redis_cluster: 1 key (views: customer_profile_fv" in out
        after = online(fixture.repo, "redis_cluster", cluster.address, [gone, kept])
        assert all(v is None for v in after[gone].values())
        assert after[kept] == before[kept]
    finally:
        cluster.stop()
