"""What the server answered: a sample of responses, decoded after the run.

Latency alone can mislead: a server that falls back to defaults (``degraded``) or
does not personalize answers faster. The load generator keeps every
``SAMPLE_EVERY``-th successful response (raw bytes, at most ``SAMPLE_LIMIT`` per
process) and decodes them only when the run is over, so the send loop stays cheap.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

SAMPLE_EVERY = 8
SAMPLE_LIMIT = 1000


class ResponseSampler:
    """Keeps a bounded, evenly spread sample of raw responses."""

    def __init__(self, every: int = SAMPLE_EVERY, limit: int = SAMPLE_LIMIT) -> None:
        self.every, self.limit = every, limit
        self.seen = 0
        self.samples: list[bytes] = []

    def offer(self, response: Any) -> None:
        """Consider one successful response (bytes; anything else is ignored)."""
        self.seen += 1
        wanted = self.seen % self.every == 0 and len(self.samples) < self.limit
        if wanted and isinstance(response, bytes):
            self.samples.append(response)


def _decisions(rpc: str, samples: list[bytes]) -> list[Any]:
    from personalization.v1 import personalization_pb2 as pb

    if rpc == "decide":
        return [pb.DecideResponse.FromString(raw) for raw in samples]
    out: list[Any] = []
    for raw in samples:
        out.extend(pb.DecideBatchResponse.FromString(raw).responses)
    return out


def summarize(rpc: str, samples: list[bytes]) -> dict[str, Any]:
    """Shares of personalized and degraded decisions in the sample (Decide RPCs only)."""
    if rpc not in ("decide", "batch") or not samples:
        return {}
    decisions = _decisions(rpc, samples)
    if not decisions:
        return {"decisions_sampled": 0}
    reasons: Counter[str] = Counter()
    for d in decisions:
        reasons.update(d.degraded_reasons)
        if not d.personalized and d.not_personalized_reason:
            reasons[f"not_personalized:{d.not_personalized_reason}"] += 1
    n = len(decisions)
    return {
        "decisions_sampled": n,
        "personalized_share": round(sum(d.personalized for d in decisions) / n, 4),
        "degraded_share": round(sum(d.degraded for d in decisions) / n, 4),
        "reasons": dict(reasons.most_common(6)),
    }
