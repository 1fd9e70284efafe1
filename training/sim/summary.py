"""Ground-truth summary (truth/summary.json): oracle AUC, policy values, archetype counts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from modelio.vocab import ACTIONS
from training.sim.archetypes import ARCHETYPE_NAMES, K
from training.sim.config import SimConfig


def auc(score: np.ndarray, label: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula, ties averaged (no sklearn needed)."""
    label = np.asarray(label, dtype=bool)
    n_pos, n_neg = int(label.sum()), int((~label).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    avg_rank = ends - (counts - 1) / 2.0  # 1-based average rank of each distinct score
    rank_sum = avg_rank[inverse][label].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


class SummaryBuilder:
    """Accumulates block statistics; arrays needed for the AUC are kept (8 bytes/ticket)."""

    def __init__(self) -> None:
        self._parts: dict[str, list[np.ndarray]] = {}

    def add(self, stats: dict[str, np.ndarray]) -> None:
        """Record one block's stats."""
        for name, values in stats.items():
            self._parts.setdefault(name, []).append(values)

    def _cat(self, name: str) -> np.ndarray:
        return np.concatenate(self._parts.get(name, [np.zeros(0)]))

    def _shares(self, name: str) -> dict[str, float]:
        counts = np.bincount(self._cat(name).astype(np.int64), minlength=len(ACTIONS))
        return {
            a: round(float(c) / max(int(counts.sum()), 1), 6)
            for a, c in zip(ACTIONS, counts, strict=True)
        }

    def build(self, cfg: SimConfig) -> dict[str, Any]:
        """The summary dict (deterministic: no wall-clock values)."""
        arche = np.bincount(self._cat("archetype").astype(np.int64), minlength=K)
        p, esc = self._cat("p_escalate"), self._cat("escalated").astype(bool)
        p_ticket = self._cat("ticket_p_escalate")
        esc_ticket = self._cat("ticket_escalated").astype(bool)
        turns = self._cat("turns_per_conversation")
        logging, oracle = self._cat("logging_value"), self._cat("oracle_value")
        assert cfg.end is not None
        return {
            "seed": cfg.seed,
            "customers": cfg.customers,
            "end_date": cfg.end.date().isoformat(),
            "days": cfg.days,
            "archetype_names": list(ARCHETYPE_NAMES),
            "archetype_counts": {n: int(c) for n, c in zip(ARCHETYPE_NAMES, arche, strict=True)},
            "tickets": len(p_ticket),
            "escalation_rate": round(float(esc_ticket.mean()), 6) if len(p_ticket) else None,
            "ticket_oracle_auc": round(auc(p_ticket, esc_ticket), 6),
            # per turn: every ticket's first turn and every later decided turn
            "turns": len(p),
            "turn_escalation_rate": round(float(esc.mean()), 6) if len(p) else None,
            "mean_p_escalate": round(float(p.mean()), 6) if len(p) else None,
            "oracle_auc": round(auc(p, esc), 6),
            "conversations": len(turns),
            "mean_decided_turns": round(float(turns.mean()), 6) if len(turns) else None,
            "conversation_turns": {
                str(k): int(c) for k, c in enumerate(np.bincount(turns.astype(np.int64))) if k
            },
            "decisions": len(logging),
            "logged_success_rate": round(float((self._cat("success") == 1).mean()), 6),
            "logging_value": round(float(logging.mean()), 6),
            "oracle_value": round(float(oracle.mean()), 6),
            "uniform_value": round(float(self._cat("uniform_value").mean()), 6),
            "oracle_over_logging": round(float(oracle.mean() / logging.mean()), 6),
            "logged_action_share": self._shares("action"),
            "oracle_action_share": self._shares("best_action"),
        }


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    """Write JSON with sorted keys so identical runs give identical bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
