"""Simulate support data with known ground truth (see docs/data.md).

``simulate(SimConfig(...))`` writes the raw tables, the derived feature-view sources and
the ``truth/`` folder under ``cfg.out``, chunk by chunk, then validates its own output.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from training.data.aggregates import engagement_source
from training.data.contract import NS
from training.data.support_history import support_history_source
from training.sim.block import simulate_block
from training.sim.config import BLOCK_SIZE, SimConfig, snapshot_times
from training.sim.io import TableWriters
from training.sim.summary import SummaryBuilder, write_summary

#: Output tables in writing order; ``truth/*`` go to the truth folder.
OUTPUTS = (
    "customer_profile",
    "tickets",
    "engagement_daily",
    "decisions",
    "support_history",
    "engagement",
    "truth/customers",
    "truth/tickets",
    "truth/decisions",
    "conversation_state",
)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _chunk_tables(cfg: SimConfig, blocks: range, snaps_ns: Any) -> tuple[dict[str, pa.Table], list]:
    """Simulate a chunk of blocks and derive its feature-view sources."""
    sims = []
    for b in blocks:
        first = b * BLOCK_SIZE
        sims.append(simulate_block(cfg, b, first, min(BLOCK_SIZE, cfg.customers - first)))
    tables = {name: pa.concat_tables([s.tables[name] for s in sims]) for name in sims[0].tables}
    ids = pa.concat_arrays([s.ids for s in sims])
    # Derived sources come from the raw tables only, exactly as aggregates.py documents.
    tables["support_history"] = support_history_source(tables["tickets"], cfg.end_s * NS)
    tables["engagement"] = engagement_source(tables["engagement_daily"], ids, snaps_ns)
    return tables, [s.stats for s in sims]


def simulate(cfg: SimConfig, progress: Callable[[str], None] | None = _stderr) -> dict[str, Any]:
    """Write every table under ``cfg.out`` and return the truth summary.

    Raises training.data.findings.DataValidationError if the output breaks the contract.
    """
    report = progress or (lambda _msg: None)
    n_blocks = -(-cfg.customers // BLOCK_SIZE)
    per_chunk = cfg.blocks_per_chunk
    n_chunks = -(-n_blocks // per_chunk)
    snaps_ns = snapshot_times(cfg.end_s, cfg.start_s) * NS
    writers = TableWriters(cfg.out)
    summary = SummaryBuilder()
    started = time.monotonic()
    try:
        for i, lo in enumerate(range(0, n_blocks, per_chunk)):
            tables, stats = _chunk_tables(cfg, range(lo, min(lo + per_chunk, n_blocks)), snaps_ns)
            for name in OUTPUTS:
                writers.write(name, tables[name])
            for s in stats:
                summary.add(s)
            done = min((lo + per_chunk) * BLOCK_SIZE, cfg.customers)
            report(
                f"simulate: chunk {i + 1}/{n_chunks} customers {done}/{cfg.customers} "
                f"tickets {tables['tickets'].num_rows} ({time.monotonic() - started:.1f}s)"
            )
        writers.close()
    except BaseException:
        writers.abort()
        raise
    result = summary.build(cfg)
    write_summary(cfg.out / "truth" / "summary.json", result)
    if cfg.validate:
        from training.data.validate import check_sources

        report("simulate: validating output")
        check_sources(cfg.out)
    report(f"simulate: done in {time.monotonic() - started:.1f}s -> {cfg.out}")
    return result
