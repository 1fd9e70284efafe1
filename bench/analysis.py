"""Ratios between bench entries and the targets they are held to.

A ratio whose input is missing or zero is reported as ``None`` (and its target as not
met), never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    """``value <op> bound``, where value comes from the results."""

    name: str
    description: str
    op: str  # "<=", ">=", "<"
    bound: float


TARGETS: tuple[Target, ...] = (
    Target(
        "decide_minus_echo_full_c1_p50_us",
        "one caller: decide p50 - echo of the same answer p50 (µs)",
        "<=",
        300,
    ),
    Target(
        "decide_cpu_over_echo_cpu",
        "server CPU per Decide / per echo (empty answer) call",
        "<=",
        1.6,
    ),
    Target("decide_over_echo_p50", "decide p50 / echo p50", "<=", 1.35),
    Target("decide_open_p99_us", "decide p99 (µs), open loop at the fixed rate", "<=", 2000),
    Target("naive_over_decide_p50", "naive p50 / decide p50", ">=", 1.5),
    Target("decide_over_feast_listen_p50", "decide p50 / feast_listen p50", "<", 1.0),
    Target("batch100_over_feast_batch100_p50", "batch100 p50 / feast_batch100 p50", "<=", 0.15),
    Target("max_rate_decide_over_echo", "max rate at p99 <= limit: decide / echo", ">=", 0.7),
    Target(
        "decide_rps_log_over_nolog",
        "decide throughput with the decision log / without (log costs <= 5%)",
        ">=",
        0.95,
    ),
    Target(
        "decide_cpu_log_over_nolog",
        "server CPU per Decide with the decision log / without (log costs <= 5%)",
        "<=",
        1.05,
    ),
    Target(
        "decide_conv_over_decide_p50",
        "decide p50 with conversation state / without (conversation state costs <= 15%)",
        "<=",
        1.15,
    ),
    Target(
        "decide_cpu_shadow_over_decide",
        "server CPU per Decide with one shadow version / without (shadow costs <= 25%)",
        "<=",
        1.25,
    ),
)


def _ratio(num: float | None, den: float | None) -> float | None:
    if num is None or not den:
        return None
    return round(num / den, 3)


def _p50(results: dict[str, Any], name: str, key: str = "p50_us") -> float | None:
    entry = results.get("entries", {}).get(name)
    value = entry.get(key) if entry and entry.get("ok") else None
    return float(value) if value is not None else None


def ratios(results: dict[str, Any]) -> dict[str, float | None]:
    """Every ratio the report shows, keyed like :data:`TARGETS`."""
    rates = {k: v.get("max_rate_rps") for k, v in results.get("max_rate", {}).items()}
    decide_open = results.get("open_loop", {}).get("decide")
    transport_open = results.get("open_loop", {}).get("transport")
    c1, floor = _p50(results, "decide_c1"), _p50(results, "echo_full_c1")
    return {
        "decide_minus_echo_full_c1_p50_us": c1 - floor if c1 is not None and floor else None,
        "decide_cpu_over_echo_cpu": _ratio(
            _p50(results, "decide", "server_cpu_us_per_call"),
            _p50(results, "echo", "server_cpu_us_per_call"),
        ),
        "echo_aio_cpu_over_echo_cpu": _ratio(
            _p50(results, "echo_aio", "server_cpu_us_per_call"),
            _p50(results, "echo", "server_cpu_us_per_call"),
        ),
        "echo_full_over_echo_p50": _ratio(_p50(results, "echo_full"), _p50(results, "echo")),
        "decide_over_echo_p50": _ratio(_p50(results, "decide"), _p50(results, "echo")),
        "decide_open_p99_us": float(decide_open["p99_us"]) if decide_open else None,
        "naive_over_decide_p50": _ratio(_p50(results, "naive"), _p50(results, "decide")),
        "decide_over_feast_listen_p50": _ratio(
            _p50(results, "decide"), _p50(results, "feast_listen")
        ),
        "batch100_over_feast_batch100_p50": _ratio(
            _p50(results, "batch100"), _p50(results, "feast_batch100")
        ),
        "max_rate_decide_over_echo": _ratio(rates.get("decide"), rates.get("echo")),
        "decide_p99_over_echo_p99": _ratio(
            _p50(results, "decide", "p99_us"), _p50(results, "echo", "p99_us")
        ),
        "decide_2w_over_echo_p50": _ratio(_p50(results, "decide_2w"), _p50(results, "echo")),
        "transport_over_echo_p50": _ratio(_p50(results, "transport"), _p50(results, "echo")),
        "decide_over_transport_p50": _ratio(_p50(results, "decide"), _p50(results, "transport")),
        "transport_open_p99_us": float(transport_open["p99_us"]) if transport_open else None,
        "max_rate_transport_over_echo": _ratio(rates.get("transport"), rates.get("echo")),
        "decide_rps_log_over_nolog": _ratio(
            _p50(results, "decide", "rps"), _p50(results, "decide_nolog", "rps")
        ),
        "decide_cpu_log_over_nolog": _ratio(
            _p50(results, "decide", "server_cpu_us_per_call"),
            _p50(results, "decide_nolog", "server_cpu_us_per_call"),
        ),
        "decide_p50_log_over_nolog": _ratio(_p50(results, "decide"), _p50(results, "decide_nolog")),
        "decide_cpu_shadow_over_decide": _ratio(
            _p50(results, "decide_shadow", "server_cpu_us_per_call"),
            _p50(results, "decide", "server_cpu_us_per_call"),
        ),
        "decide_rps_shadow_over_decide": _ratio(
            _p50(results, "decide_shadow", "rps"), _p50(results, "decide", "rps")
        ),
        "decide_conv_over_decide_p50": _ratio(
            _p50(results, "decide_conv"), _p50(results, "decide")
        ),
        "decide_cpu_conv_over_decide": _ratio(
            _p50(results, "decide_conv", "server_cpu_us_per_call"),
            _p50(results, "decide", "server_cpu_us_per_call"),
        ),
        "decide_conv_long_over_decide_p50": _ratio(
            _p50(results, "decide_conv_long"), _p50(results, "decide")
        ),
        "decide_cpu_conv_long_over_decide": _ratio(
            _p50(results, "decide_conv_long", "server_cpu_us_per_call"),
            _p50(results, "decide", "server_cpu_us_per_call"),
        ),
        "decide_cpu_traced_over_decide": _ratio(
            _p50(results, "decide_traced", "server_cpu_us_per_call"),
            _p50(results, "decide", "server_cpu_us_per_call"),
        ),
        "decide_rps_traced_over_decide": _ratio(
            _p50(results, "decide_traced", "rps"), _p50(results, "decide", "rps")
        ),
    }


def met(target: Target, value: float | None) -> bool:
    """Whether ``value`` meets ``target`` (a missing value never does)."""
    if value is None:
        return False
    if target.op == "<=":
        return value <= target.bound
    if target.op == ">=":
        return value >= target.bound
    return value < target.bound


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target: its value, bound and whether it is met."""
    values = ratios(results)
    return [
        {
            "name": t.name,
            "description": t.description,
            "value": values[t.name],
            "target": f"{t.op} {t.bound:g}",
            "met": met(t, values[t.name]),
        }
        for t in TARGETS
    ]


def breakdown(results: dict[str, Any]) -> list[str]:
    """Where decide's distance to echo comes from, and what the 2-worker setup gives."""
    values = ratios(results)
    lines = []
    transport, engine = (
        values.get("transport_over_echo_p50"),
        values.get("decide_over_transport_p50"),
    )
    if transport is not None and engine is not None:
        lines += [
            "",
            f"Split of decide p50 / echo p50: `transport` p50 / `echo` p50 is {transport:g} "
            f"(our gRPC layer with an engine that does nothing) and `decide` p50 / "
            f"`transport` p50 is {engine:g} (the engine: features, models, policy).",
        ]
    p99, rate = values.get("transport_open_p99_us"), values.get("max_rate_transport_over_echo")
    if p99 is not None:
        # A search that found no passing rate (short --tiny runs) leaves no ratio.
        ratio = f"{rate:g} times echo's" if rate is not None else "n/a (a search found none)"
        lines += [
            "",
            f"The same engine that does nothing gives an open-loop p99 of {p99:,.0f} µs and "
            f"a max rate of {ratio}: the floor under the decide targets above.",
        ]
    lines += _cpu_cost(results)
    lines += _tracing_cost(results)
    conv = values.get("decide_conv_over_decide_p50")
    if conv is not None:
        lines += [
            "",
            f"In a conversation (`decide_conv`: its state read in the customer's pipeline, "
            f"a compare-and-set after each answer) decide p50 is {conv:g} x `decide`'s, "
            f"server CPU per Decide {values['decide_cpu_conv_over_decide']} x.",
        ]
        long = values.get("decide_conv_long_over_decide_p50")
        if long is not None:
            lines[-1] += (
                f" In conversations of 30 turns (`decide_conv_long`, states up to the 20 "
                f"decisions they keep): p50 {long:g} x, server CPU "
                f"{values['decide_cpu_conv_long_over_decide']} x."
            )
    two = values.get("decide_2w_over_echo_p50")
    if two is not None:
        lines += [
            "",
            f"The targets compare the single-process `decide`. With `--workers 2` "
            f"(`decide_2w`, one process per core) decide p50 / echo p50 is {two:g}.",
        ]
    return lines


def _cpu_cost(results: dict[str, Any]) -> list[str]:
    """What one call costs the machine's cores (server + client CPU), per entry, and
    the throughput that cost allows at best."""
    entries = results.get("entries", {})
    cores = results.get("machine", {}).get("nproc") or 1
    costs = []
    for name in ("echo", "transport", "decide"):
        row = entries.get(name) or {}
        server, client = row.get("server_cpu_us_per_call"), row.get("client_cpu_us_per_call")
        if not server or not client:
            return []
        cost = server + client
        costs.append(
            f"`{name}` {cost:,.0f} µs ({server:,.0f} in the server), "
            f"so at most {cores * 1e6 / cost:,.0f} calls/s"
        )
    return ["", f"CPU per call, server + client, on {cores} cores: {'; '.join(costs)}."]


def _tracing_cost(results: dict[str, Any]) -> list[str]:
    """What tracing on (``decide_traced``) adds to a Decide, against ``decide``."""
    traced = _p50(results, "decide_traced", "server_cpu_us_per_call")
    plain = _p50(results, "decide", "server_cpu_us_per_call")
    if traced is None or plain is None:
        return []
    values = ratios(results)
    return [
        "",
        f"Tracing on (`decide_traced`, every span made and batched, then discarded) costs "
        f"{traced - plain:,.0f} µs of server CPU per Decide ({traced:,.0f} vs {plain:,.0f}, "
        f"{values['decide_cpu_traced_over_decide']:g} x) and gives "
        f"{values['decide_rps_traced_over_decide']:g} x the throughput of `decide`.",
    ]
