"""Turn a block's numpy arrays into arrow tables with the contract schemas (no Python loops)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelio.vocab import (
    ACTIONS,
    CHANNELS,
    DEVICES,
    FORMALITIES,
    ISSUE_CATEGORIES,
    LANGUAGES,
    PLAN_TIERS,
)
from training.data.contract import (
    CUSTOMER_PROFILE,
    DECISIONS,
    ENGAGEMENT_DAILY,
    TICKETS,
    to_timestamp,
)
from training.sim.archetypes import ARCHETYPE_NAMES
from training.sim.config import TIMEZONES
from training.sim.conversations import conversation_table

NS = 1_000_000_000


def _digits(numbers: np.ndarray, width: int) -> np.ndarray:
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((numbers[:, None] // powers[None, :]) % 10 + ord("0")).astype(np.uint8)


def format_ids(prefix: str, numbers: np.ndarray, seq: np.ndarray | None = None) -> pa.Array:
    """IDs like ``C0000042`` or, with ``seq``, ``T0000042-0003`` (zero padded, sortable)."""
    parts = [np.full((len(numbers), 1), ord(prefix), dtype=np.uint8), _digits(numbers, 7)]
    if seq is not None:
        parts += [np.full((len(numbers), 1), ord("-"), dtype=np.uint8), _digits(seq, 4)]
    mat = np.ascontiguousarray(np.hstack(parts))
    return pa.array(mat.view(f"S{mat.shape[1]}").ravel()).cast(pa.string())


def _vocab(values: tuple[str, ...], idx: np.ndarray) -> pa.Array:
    return pa.array(values).take(pa.array(np.asarray(idx, dtype=np.int64)))


def _ts(seconds: np.ndarray) -> pa.Array:
    return to_timestamp(np.asarray(seconds, dtype=np.int64) * NS)


def profile_table(
    ids: pa.Array, cust: dict[str, np.ndarray], prof: dict[str, np.ndarray]
) -> pa.Table:
    """customer_profile rows of a block."""
    c = prof["cust"]
    ts = _ts(prof["t"])
    return pa.table(
        {
            "customer_id": ids.take(c),
            "event_timestamp": ts,
            "created_timestamp": ts,
            "plan_tier": _vocab(PLAN_TIERS, prof["tier"]),
            "monthly_spend": prof["spend"].astype(np.float64),
            "tenure_months": prof["tenure"].astype(np.int64),
            "lifetime_value": prof["ltv"].astype(np.float64),
            "num_products": prof["products"].astype(np.int64),
            "personalization_consent": prof["consent"].astype(bool),
            "preferred_formality": _vocab(FORMALITIES, cust["formality"][c]),
            "preferred_language": _vocab(LANGUAGES, cust["language"][c]),
        },
        schema=CUSTOMER_PROFILE.arrow_schema(),
    )


def daily_table(ids: pa.Array, daily: dict[str, np.ndarray]) -> pa.Table:
    """engagement_daily rows of a block."""
    return pa.table(
        {
            "customer_id": ids.take(daily["cust"]),
            "event_timestamp": _ts(daily["t"]),
            "sessions": daily["sessions"],
            "page_views": daily["page_views"],
            "minutes": daily["minutes"],
            "product_usage": daily["product_usage"],
        },
        schema=ENGAGEMENT_DAILY.arrow_schema(),
    )


def decided_cells(truth: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(ticket row, turn) of every decided turn, by ticket then turn."""
    rows, turns = np.nonzero(truth["decided"])
    return rows, turns


def decision_ids(numbers: np.ndarray, tk: dict[str, np.ndarray], rows, turns) -> pa.Array:
    """``D0000042-0003-2``: the customer, the ticket's seq and the turn (1-based)."""
    base = format_ids("D", numbers[tk["cust"][rows]], tk["seq"][rows])
    digit = np.asarray(turns + 1, dtype=np.uint8) + ord("0")
    suffix = pa.array(np.char.add("-", digit.view("S1").astype(str))).cast(pa.string())
    return pc.binary_join_element_wise(base, suffix, "")


def ticket_tables(
    numbers: np.ndarray, ids: pa.Array, tk: dict[str, np.ndarray], truth: dict[str, np.ndarray]
) -> dict[str, pa.Table]:
    """tickets, decisions (one per decided turn) and their truth tables of a block."""
    ticket_ids = format_ids("T", numbers[tk["cust"]], tk["seq"])
    tickets = pa.table(
        {
            "ticket_id": ticket_ids,
            "customer_id": ids.take(tk["cust"]),
            "event_timestamp": _ts(tk["open_s"]),
            "closed_at": _ts(tk["close_s"]),
            "channel": _vocab(CHANNELS, tk["channel"]),
            "device": _vocab(DEVICES, tk["device"]),
            "issue_category": _vocab(ISSUE_CATEGORIES, tk["category"]),
            "sentiment": tk["sentiment"],
            "timezone": _vocab(TIMEZONES, tk["zone"]),
            "turn_index": tk["turn_index"].astype(np.int64),
            "turn_count": tk["turn_count"],
            "resolution_hours": tk["resolution_hours"],
            "csat": tk["csat"],
            "escalated": tk["escalated"],
        },
        schema=TICKETS.arrow_schema(),
    )
    rows, turns = decided_cells(truth)
    dec_ids = decision_ids(numbers, tk, rows, turns)
    cell = (rows, turns)
    decisions = pa.table(
        {
            "decision_id": dec_ids,
            "ticket_id": ticket_ids.take(rows),
            "customer_id": ids.take(tk["cust"][rows]),
            "event_timestamp": _ts(truth["at_s"][cell]),
            "action": _vocab(ACTIONS, truth["action"][cell]),
            "propensity": truth["propensity"][cell],
            "success": truth["success"][cell],
            "csat": tk["csat"][rows],
            "sentiment": truth["sentiment"][cell],
            "turn_index": truth["turn_index"][cell],
            "escalated": truth["escalated"][cell],
        },
        schema=DECISIONS.arrow_schema(),
    )
    truth_decisions = {"decision_id": dec_ids, "p_escalate": truth["p_escalate"][cell]}
    for j, a in enumerate(ACTIONS):
        truth_decisions[f"p_success__{a}"] = truth["p_success"][rows, turns, j]
    return {
        "tickets": tickets,
        "decisions": decisions,
        "truth/tickets": pa.table(
            {"ticket_id": ticket_ids, "p_escalate": truth["ticket_p_escalate"]}
        ),
        "truth/decisions": pa.table(truth_decisions),
        "conversation_state": conversation_table(
            decisions.append_column("issue_category", tickets["issue_category"].take(rows))
        ),
    }


def truth_customers_table(ids: pa.Array, cust: dict[str, np.ndarray]) -> pa.Table:
    """truth/customers rows: archetype and the latent variables."""
    return pa.table(
        {
            "customer_id": ids,
            "archetype": cust["archetype"].astype(np.int64),
            "archetype_name": _vocab(ARCHETYPE_NAMES, cust["archetype"]),
            "patience": cust["patience"],
            "engagement_level": cust["engagement_level"],
            "value_level": cust["value_level"],
            "ticket_rate": cust["ticket_rate"],
            "timezone": _vocab(TIMEZONES, cust["zone"]),
        }
    )
