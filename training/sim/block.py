"""Simulate one RNG block of customers end to end (profiles, engagement, tickets, truth)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from training.data.aggregates import engagement_windows
from training.data.contract import NS
from training.sim.archetypes import sample_customers
from training.sim.config import SimConfig, block_rng, engagement_start, snapshot_times
from training.sim.engagement import simulate_engagement
from training.sim.outcomes import simulate_outcomes
from training.sim.profile import asof_rows, simulate_profiles
from training.sim.tables import (
    daily_table,
    format_ids,
    profile_table,
    ticket_tables,
    truth_customers_table,
)
from training.sim.tickets import simulate_tickets

_ENGAGEMENT_VALUES = ("sessions", "page_views", "minutes", "product_usage")


@dataclass
class Block:
    """A simulated block: raw/truth tables plus arrays for the summary."""

    ids: pa.Array
    tables: dict[str, pa.Table]
    stats: dict[str, np.ndarray] = field(default_factory=dict)


def ticket_state(
    tk: dict[str, np.ndarray],
    cust: dict[str, np.ndarray],
    prof: dict[str, np.ndarray],
    windows: dict[str, np.ndarray],
    snaps: np.ndarray,
) -> dict[str, np.ndarray]:
    """What the model sees at each ticket's open time, except the support history.

    Profile = latest snapshot at or before the open time; engagement = latest weekly
    snapshot at or before it (exactly the rows a point-in-time join returns).
    """
    c = tk["cust"]
    p = asof_rows(prof["cust"], prof["t"], c, tk["open_s"])
    if (p < 0).any():
        raise AssertionError("a ticket opened before its customer's first profile snapshot")
    j = np.searchsorted(snaps, tk["open_s"], side="right") - 1
    state = {
        name: tk[name]
        for name in (
            "sentiment",
            "category",
            "channel",
            "device",
            "local_hour",
            "weekday",
            "turn_index",
        )
    }
    for name in ("tier", "spend", "tenure", "ltv", "products", "consent"):
        state[name] = prof[name][p]
    for name in ("active_days", "sessions", "page_views", "minutes", "product_usage"):
        state[name] = windows[name][c, j]
    state["patience"] = cust["patience"][c]
    return state


def simulate_block(cfg: SimConfig, block: int, first: int, n: int) -> Block:
    """Customers ``first+1 .. first+n`` drawn from the generator of block ``block``."""
    rng = block_rng(cfg.seed, block)
    start_s, end_s = cfg.start_s, cfg.end_s
    numbers = np.arange(first + 1, first + n + 1, dtype=np.int64)
    ids = format_ids("C", numbers)
    cust = sample_customers(rng, n)
    prof = simulate_profiles(rng, cust, start_s, end_s)
    snaps = snapshot_times(end_s, start_s)
    daily = simulate_engagement(rng, cust, engagement_start(snaps), end_s)
    values = {k: daily[k].astype(np.float64) for k in _ENGAGEMENT_VALUES}
    windows = engagement_windows(daily["cust"], daily["t"] * NS, values, n, snaps * NS)
    tk = simulate_tickets(rng, cust, start_s, end_s, cfg.days)
    state = ticket_state(tk, cust, prof, windows, snaps)
    truth = simulate_outcomes(tk, state, end_s)
    tables = {
        "customer_profile": profile_table(ids, cust, prof),
        "engagement_daily": daily_table(ids, daily),
        "truth/customers": truth_customers_table(ids, cust),
        **ticket_tables(numbers, ids, tk, truth),
    }
    decided = truth["decided"]
    happened = decided.copy()
    happened[:, 0] = True  # every ticket has a first turn (an unlogged one undecided)
    stats = {
        "archetype": cust["archetype"],
        "ticket_p_escalate": truth["ticket_p_escalate"],
        "ticket_escalated": tk["escalated"],
        "p_escalate": truth["p_escalate"][happened],
        "escalated": truth["escalated"][happened],
        "turns_per_conversation": decided.sum(axis=1)[decided[:, 0]],
        "logging_value": truth["logging_value"][decided],
        "oracle_value": truth["oracle_value"][decided],
        "uniform_value": truth["uniform_value"][decided],
        "best_action": truth["best_action"][decided],
        "action": truth["action"][decided],
        "success": truth["success"][decided].astype(np.int64),
    }
    return Block(ids=ids, tables=tables, stats=stats)
