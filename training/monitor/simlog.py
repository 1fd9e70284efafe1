"""Decision and outcome logs of simulated traffic, scored offline by a trained version.

What the server would log for replay turns (:class:`training.replay.world.World`, with
an optional :class:`~training.replay.drift.Drift`), without a server: each turn's raw
online features (the population's at the snapshot, drift-scaled), encoded with
:func:`modelio.context.encode_inputs` and the version's defaults, scored by its
escalation and reward ONNX graphs (:func:`training.export.graphs.predictor`), the action
chosen by :func:`modelio.policy.choose`, the outcome drawn from the truth. The decision
time is the turn's simulated time, so time windows follow the simulated clock. Used by
the monitor tests and the worked run in docs/monitoring.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from modelio.context import TurnContext, encode_inputs
from modelio.conversation import conversation_inputs
from modelio.logrecords import DECISIONS, OUTCOMES, table
from modelio.manifest import Manifest
from modelio.policy import choose, eligibility_of, eligible_mask, exploration_draw
from modelio.vocab import ACTIONS
from training.data import inputs
from training.export.graphs import predictor
from training.replay.drift import Drift
from training.replay.population import Population
from training.replay.world import Turns, World
from training.sim.join import join_features

OUTCOME_DELAY = timedelta(minutes=5)


@dataclass(frozen=True)
class SimLog:
    """Log rows of a batch of turns (DECISION_SCHEMA and OUTCOME_SCHEMA dicts)."""

    decisions: list[dict[str, Any]]
    outcomes: list[dict[str, Any]]


def served_records(data_dir: Path, pop: Population) -> dict[str, dict[str, Any]]:
    """Every customer's raw online features at the population's snapshot, by id."""
    entities = pd.DataFrame(
        {
            "customer_id": pop.ids,
            "event_timestamp": pd.Timestamp(pop.snapshot_s, unit="s", tz="UTC").as_unit("ns"),
        }
    )
    joined = join_features(entities, data_dir)
    ids = joined["customer_id"].astype(str).tolist()
    return dict(zip(ids, inputs.raw_records(joined), strict=True))


class Scorer:
    """A version's escalation and reward graphs and policy, as the server applies them."""

    def __init__(self, version_dir: Path, manifest: Manifest) -> None:
        self.manifest = manifest
        esc, rew = manifest.models["escalation"], manifest.models["nba"]
        self.risk = predictor(version_dir / esc.path, esc.output)
        self.success = predictor(version_dir / rew.path, rew.output)

    def decision_rows(
        self, turns: Turns, raws: Sequence[dict[str, Any]], prefix: str
    ) -> list[dict[str, Any]]:
        """One decision row per turn (ids ``<prefix>-<row>``)."""
        names, s, m = turns.names(), turns.state, self.manifest
        times = [datetime.fromtimestamp(int(t), UTC) for t in turns.event_s]
        contexts = [
            TurnContext(
                channel=names["channel"][i],
                device=names["device"][i],
                issue_category=names["category"][i],
                sentiment=float(s["sentiment"][i]),
                event_time=times[i],
                timezone=names["timezone"][i],
                turn_index=int(s["turn_index"][i]),
            )
            for i in range(len(turns))
        ]
        encoded = [encode_inputs(r, c, m.defaults) for r, c in zip(raws, contexts, strict=True)]
        for row, ctx in zip(encoded, contexts, strict=True):
            # a replay-world turn opens its conversation: the state's inputs of a first turn
            row.update(
                conversation_inputs(
                    None, ctx.event_time.timestamp(), ctx.sentiment, ctx.issue_category
                )
            )
        layout = tuple(m.models["escalation"].inputs)
        x = inputs.escalation_matrix(encoded, layout)
        risk = np.asarray(self.risk(x), dtype=np.float64).reshape(-1)
        batch = inputs.all_actions_matrix(encoded, tuple(m.models["nba"].inputs))
        scores = np.asarray(self.success(batch), dtype=np.float64)
        scores = scores.reshape(-1, len(ACTIONS))
        rows = []
        for i, (raw, ctx) in enumerate(zip(raws, contexts, strict=True)):
            decision_id = f"{prefix}-{i}"
            mask = eligible_mask(eligibility_of(raw), m.policy)
            pick = choose(
                scores[i].tolist(), mask, float(risk[i]), ctx.sentiment, m.policy,
                exploration_draw(decision_id),
            )  # fmt: skip
            rows.append(_row(decision_id, str(turns.customer_ids[i]), m.version, ctx, x[i]))
            rows[-1].update(
                probabilities=list(pick.probabilities),
                action=pick.action,
                action_index=ACTIONS.index(pick.action),
                propensity=pick.propensity,
                scores=scores[i].tolist(),
                escalation_probability=float(risk[i]),
            )
        return rows


def _row(
    decision_id: str, customer_id: str, version: str, ctx: TurnContext, x: np.ndarray
) -> dict[str, Any]:
    return {
        "decision_id": decision_id,
        "ts": ctx.event_time,
        "customer_id": customer_id,
        "request_id": decision_id,
        "conversation_id": "",
        "model_version": version,
        "arm": "",
        "channel": ctx.channel,
        "device": ctx.device,
        "issue_category": ctx.issue_category,
        "sentiment": ctx.sentiment,
        "event_time": ctx.event_time,
        "time_zone": ctx.timezone,
        "locale": "",
        "turn_index": ctx.turn_index,
        "features": "{}",
        "inputs": x.tolist(),
        "segment_id": 0,
        "personalized": True,
        "degraded": False,
        "degraded_reasons": [],
    }


def simulate_log(
    world: World,
    records: dict[str, dict[str, Any]],
    scorer: Scorer,
    turns: int,
    index: int = 0,
    days: int = 1,
) -> SimLog:
    """Decisions and outcomes of ``turns`` turns of day-batch ``index`` of ``world``."""
    batch = world.turns(turns, index=index, days=days)
    raws = [records[str(c)] for c in batch.customer_ids]
    drift: Drift | None = world.drift
    if drift is not None:
        raws = drift.apply_raw(raws, batch.event_s)
    decisions = scorer.decision_rows(batch, raws, prefix=f"sim{index}")
    actions = np.array([d["action_index"] for d in decisions], dtype=np.int64)
    rng = np.random.default_rng(np.random.SeedSequence([world.seed, 0x0C0E, index]))
    drawn = batch.draw_outcomes(actions, rng, scorer.manifest.policy.reward)
    outcomes = [
        {
            "decision_id": d["decision_id"],
            "received_at": d["ts"] + OUTCOME_DELAY,
            "event_time": d["ts"] + OUTCOME_DELAY,
            "resolved": bool(r),
            "escalated": bool(e),
            "csat": None if np.isnan(c) else int(c),
            "principal": "",
        }
        for d, r, e, c in zip(decisions, drawn.resolved, drawn.escalated, drawn.csat, strict=True)
    ]
    return SimLog(decisions, outcomes)


def write_log(log_dir: Path, log: SimLog, name: str) -> None:
    """Write the rows as ``<log_dir>/<kind>/date=YYYY-MM-DD/<name>.parquet`` parts."""
    for kind, rows, key in (
        (DECISIONS, log.decisions, "ts"),
        (OUTCOMES, log.outcomes, "received_at"),
    ):
        days: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            days.setdefault(f"{row[key]:%Y-%m-%d}", []).append(row)
        for day, part in days.items():
            folder = log_dir / kind / f"date={day}"
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(table(kind, part), folder / f"{name}.parquet")
