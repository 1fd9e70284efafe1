"""A small seeded experiment log: arms with known success rates, one part per arm and day."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import numpy as np

from modelio.logrecords import DECISIONS, OUTCOMES
from tests.support.decision_logs import T0, decision, outcome, write_part


#: Measured to this time, every outcome's wait (3600 s) is over.
def now_after(days: int) -> str:
    return (T0 + timedelta(days=days + 1)).isoformat()


def write_experiment(
    log_dir: Path,
    rates: Mapping[str, float],
    per_day: Mapping[str, int],
    days: int,
    seed: int,
    escalate_share: float = 0.4,
) -> None:
    """Decisions of each arm (``per_day[arm]`` a day), an outcome for 90 % of them:
    resolved without escalation with probability ``rates[arm]`` (the default reward is
    that indicator, so the true lift is the difference of the rates)."""
    rng = np.random.default_rng(seed)
    for day in range(days):
        for arm, rate in rates.items():
            decisions, outcomes = [], []
            for k in range(per_day[arm]):
                ts = T0 + timedelta(days=day, seconds=int(rng.integers(0, 40_000)))
                row = decision(f"{arm}-{day}-{k}", ts=ts, customer_id=f"C{day}-{k}")
                row["arm"] = arm
                decisions.append(row)
                success = bool(rng.random() < rate)
                if not success and rng.random() < 0.1:
                    continue  # no outcome: default reward 0, like a failure
                escalated = not success and bool(rng.random() < escalate_share)
                outcomes.append(
                    outcome(
                        row["decision_id"],
                        ts + timedelta(minutes=5),
                        resolved=success,
                        escalated=escalated,
                    )
                )
            write_part(log_dir, DECISIONS, decisions, f"{arm}-{day}")
            if outcomes:
                write_part(log_dir, OUTCOMES, outcomes, f"{arm}-{day}")
