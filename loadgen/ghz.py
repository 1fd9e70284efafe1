"""A run as a ghz JSON report (``ghz --format json``), for dashboards that read ghz's.

Field for field what ghz writes: durations (``total``, ``average``, ``fastest``,
``slowest``, every ``latency``) are integer nanoseconds, ``histogram`` marks are
seconds, ``frequency`` is a fraction; status names are grpc-go's (``Unauthenticated``,
``DeadlineExceeded``; Go spells CANCELLED ``Canceled``); an error is
``rpc error: code = <Status> desc = <details>``. As in ghz, ``count`` and ``rps``
cover every call, ``average`` every call's latency, ``fastest``/``slowest``/
``latencyDistribution``/``histogram`` the successful ones. Differences: latencies come
from an HDR histogram (0.1 % precision, not the exact sample), ``details`` holds the
first ``--details`` calls of each process (ghz: the first million), and two fields
ghz does not have are added: ``intervals`` (the time series) and ``targets``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from loadgen.stats import LatencyStats

GHZ_PERCENTAGES = (10, 25, 50, 75, 90, 95, 99)
HISTOGRAM_BUCKETS = 10
_GO_NAMES = {"CANCELLED": "Canceled"}


def go_status(code: str) -> str:
    """grpc-go's name of a status code given by its Python name (``UNAVAILABLE``)."""
    if code in _GO_NAMES:
        return _GO_NAMES[code]
    return "".join(part.capitalize() for part in code.split("_")) if code != "OK" else "OK"


def go_error(code: str, message: str) -> str:
    return f"rpc error: code = {go_status(code)} desc = {message}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def histogram(stats: LatencyStats) -> list[dict[str, Any]]:
    """ghz's histogram: 11 marks from fastest to slowest (seconds), successful calls
    per mark (each counted at the first mark at or above it), frequency = count / ok."""
    if not stats.ok:
        return []
    lo, hi = stats.min_us, stats.max_us
    step = (hi - lo) / HISTOGRAM_BUCKETS
    edges = [lo + step * i for i in range(HISTOGRAM_BUCKETS)] + [float(hi)]
    counts = stats.buckets(edges)
    return [
        {"mark": edge / 1e6, "count": n, "frequency": n / stats.ok}
        for edge, n in zip(edges, counts, strict=True)
    ]


def ghz_report(result: dict[str, Any], stats: LatencyStats, started: float) -> dict[str, Any]:
    """The ghz report of a merged run; ``stats`` holds all its calls, ``started`` is the
    ``time.time()`` the measured window began at."""
    total_ns = round(result["duration_s"] * 1e9)
    errors: dict[str, int] = {}
    for key, n in stats.messages.items():
        code, _, message = key.partition("|")
        errors[go_error(code, message)] = errors.get(go_error(code, message), 0) + n
    statuses = {go_status(code): n for code, n in sorted(stats.codes.items())}
    ok = bool(stats.ok)
    return {
        "date": _iso(started).split(".")[0] + "Z",
        "endReason": "normal" if result.get("max_requests") else "timeout",
        "options": _options(result),
        "count": stats.total,
        "total": total_ns,
        "average": round(stats.mean_all() * 1e3),
        "fastest": stats.min_us * 1000 if ok else 0,
        "slowest": stats.max_us * 1000 if ok else 0,
        "rps": stats.total / result["duration_s"] if result["duration_s"] else 0.0,
        "errorDistribution": errors,
        "statusCodeDistribution": statuses,
        "latencyDistribution": [
            {"percentage": p, "latency": stats.percentile(p) * 1000} for p in GHZ_PERCENTAGES
        ]
        if ok
        else None,
        "histogram": histogram(stats) if ok else None,
        "details": [
            {
                "timestamp": _iso(when),
                "latency": latency_ns,
                "error": go_error(code, message) if code != "OK" else "",
                "status": go_status(code),
            }
            for when, latency_ns, code, message in result["details"]
        ],
        "intervals": result["intervals"],
        "targets": result["targets"],
    }


def _options(result: dict[str, Any]) -> dict[str, Any]:
    method = result["method"].lstrip("/").replace("/", ".")
    options: dict[str, Any] = {
        "host": result["target"],
        "call": method,
        "insecure": not result["tls"],
        "concurrency": result.get("concurrency", 0),
        "qps": round(result.get("rate", 0)),
        "duration": round(result["duration_s"] * 1e9),
        "timeout": round(result["timeout_s"] * 1e9),
        "connections": len(result["targets"]) * result["processes"],
        "binary": True,
        "CPUs": result["processes"],
    }
    if result.get("profile"):
        options["load-schedule"] = result["profile"]
    return options
