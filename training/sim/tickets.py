"""Ticket skeletons: how many tickets, when they open, and the turn context of each.

Outcomes (escalation, decision, resolution, csat) depend on the history and are drawn
later in outcomes.py; every random number they need is drawn here, up front, so
the sequential part consumes no generator state.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelio.context import zone
from modelio.vocab import CHANNELS, ISSUE_CATEGORIES
from training.sim.archetypes import choice_rows, param, param_rows
from training.sim.config import DAY, LOGGED_SHARE, MAX_TURNS, TIMEZONES

_MAX_TICKETS = 200
#: Uniforms drawn per later turn of a conversation, in this order.
TURN_DRAWS = ("continue", "gap", "index", "sentiment", "escalate", "action", "success")
#: P(channel | device); rows DEVICES, columns CHANNELS.
CHANNEL_GIVEN_DEVICE = np.array(
    [
        [0.45, 0.00, 0.10, 0.30, 0.15],
        [0.05, 0.45, 0.25, 0.05, 0.20],
        [0.30, 0.40, 0.10, 0.10, 0.10],
    ]
)
#: Pre-tanh sentiment shift per issue category (billing and cancellations start sour).
SENTIMENT_SHIFT = np.array([-0.25, -0.15, 0.0, -0.10, -0.45, 0.20])


def local_time(utc_s: np.ndarray, zone_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local hour (hour + minute/60, as modelio.context computes it) and weekday (Mon=0)."""
    hour = np.zeros(len(utc_s))
    weekday = np.zeros(len(utc_s), dtype=np.int64)
    for z in np.unique(zone_idx):
        m = zone_idx == z
        local = pd.DatetimeIndex(pd.to_datetime(utc_s[m], unit="s", utc=True)).tz_convert(
            zone(TIMEZONES[z])
        )
        hour[m] = local.hour + local.minute / 60.0
        weekday[m] = local.weekday
    return hour, weekday


def _utc_offset(naive_s: np.ndarray, zone_idx: np.ndarray) -> np.ndarray:
    """UTC offset (s) of each zone around a local wall time (exact outside DST switches)."""
    out = np.zeros(len(naive_s), dtype=np.int64)
    for z in np.unique(zone_idx):
        m = zone_idx == z
        utc = pd.DatetimeIndex(pd.to_datetime(naive_s[m], unit="s", utc=True))
        local = utc.tz_convert(zone(TIMEZONES[z])).tz_localize(None)
        out[m] = (local - utc.tz_localize(None)).total_seconds().astype(np.int64)
    return out


def open_times(
    rng: np.random.Generator, cust: np.ndarray, zone_idx: np.ndarray, start_s: int, end_s: int
) -> np.ndarray:
    """Open times with a diurnal profile in the customer's local time, sorted per customer."""
    n = len(cust)
    span = end_s - 60 - start_s
    day = rng.integers(0, span // DAY, n)
    daytime = rng.random(n) < 0.8
    hour = np.where(daytime, np.clip(rng.normal(14.0, 3.5, n), 0, 23.99), rng.uniform(0, 24, n))
    naive = start_s + day * DAY + np.round(hour * 3600).astype(np.int64)
    utc = naive - _utc_offset(naive, zone_idx[cust])
    # Shift by whole days into the window: local wall time is unchanged.
    return start_s + (utc - start_s) % (span // DAY * DAY)


def _dedupe_sorted(cust: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Make times strictly increasing within each customer (a second apart at least).

    u_k = k + max_{j<=k}(t_j - j) per customer; the customer index times 2**34 keeps
    the running maximum from leaking across customers.
    """
    seq = np.arange(len(t)) - np.searchsorted(cust, cust, side="left")
    lift = cust.astype(np.int64) << 34
    return np.maximum.accumulate(t - seq + lift) - lift + seq


def turn_context(
    rng: np.random.Generator, archetype: np.ndarray, zone_idx: np.ndarray, t: np.ndarray
) -> dict[str, np.ndarray]:
    """The turn context of tickets opened at ``t`` (Unix s) by customers of ``archetype``.

    Device, channel | device, category, sentiment and the turn index are drawn (in this
    order) from ``rng``; local hour and weekday follow from ``t`` and the customer's zone.
    The replay world (training/replay) draws its turns with this same function.
    """
    n = len(archetype)
    device = choice_rows(rng, param_rows("devices", archetype))
    channel = choice_rows(rng, CHANNEL_GIVEN_DEVICE[device])
    category = choice_rows(rng, param_rows("categories", archetype))
    sentiment = np.tanh(
        param("sentiment", archetype) + SENTIMENT_SHIFT[category] + rng.normal(0, 0.6, n)
    )
    busy = (
        0.8
        + 0.6 * (channel == CHANNELS.index("voice"))
        + 0.5 * (category == ISSUE_CATEGORIES.index("technical"))
    )
    turn_index = 1 + np.minimum(rng.poisson(busy), 19)
    hour, weekday = local_time(t, zone_idx)
    return {
        "device": device,
        "channel": channel,
        "category": category,
        "sentiment": np.round(sentiment, 4),
        "turn_index": turn_index,
        "local_hour": hour,
        "weekday": weekday,
        "zone": zone_idx,
    }


def simulate_tickets(
    rng: np.random.Generator, cust: dict[str, np.ndarray], start_s: int, end_s: int, days: int
) -> dict[str, np.ndarray]:
    """Ticket skeletons sorted by (customer, open time); ``seq`` numbers them per customer."""
    arch = cust["archetype"]
    counts = np.minimum(rng.poisson(cust["ticket_rate"] * days / 180.0), _MAX_TICKETS)
    owner = np.repeat(np.arange(len(arch)), counts)
    t = open_times(rng, owner, cust["zone"], start_s, end_s)
    order = np.lexsort((t, owner))
    owner, t = owner[order], t[order]
    t = _dedupe_sorted(owner, t)
    n = len(owner)
    return {
        "cust": owner,
        "seq": np.arange(n) - np.searchsorted(owner, owner, side="left"),
        "open_s": t,
        **turn_context(rng, arch[owner], cust["zone"][owner], t),
        "logged": rng.random(n) < LOGGED_SHARE,
        # Uniforms and noise for the sequential outcome draws.
        "u_escalate": rng.random(n),
        "u_action": rng.random(n),
        "u_success": rng.random(n),
        "res_noise": rng.normal(0, 0.6, n),
        "u_csat": rng.random(n),
        "csat_noise": rng.normal(0, 0.7, n),
        "extra_turns": rng.poisson(2.0, n),
        # The conversation's later turns (outcomes.TURN_DRAWS names the rows).
        "u_turns": rng.random((n, len(TURN_DRAWS), MAX_TURNS - 1)),
    }
