"""The replay driver: rounds of simulated turns against a server, scored by the truth.

Each round draws turns from the :class:`~training.replay.world.World`, asks the server
with DecideBatch (:mod:`training.replay.decide_rpc`: action, propensity, decision id,
model version and arm come back), draws every decision's outcome from the truth for the
action the server chose, sends the outcomes back (:mod:`training.replay.outcome_rpc`)
and scores the round. Between rounds the :class:`RoundSteps` retrain and reload
(:mod:`training.replay.loop` runs the real commands; tests pass fakes).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
import numpy as np

from training.progress import Progress
from training.replay.decide_rpc import Decided, build_requests, concat, decide
from training.replay.outcome_rpc import OutcomeRecord, Sender, send_outcomes
from training.replay.world import Outcomes, Turns, World


@dataclass(frozen=True)
class Estimate:
    """An off-policy estimate of a version's value, made before it served."""

    version: str
    dr_estimate: float | None
    dr_ci: tuple[float, float] | None


class StoreChange(Protocol):
    """A change of the server's online store at the drift's first turn
    (:class:`training.replay.store_drift.StoreDrift`)."""

    def apply(self) -> None: ...

    def restore(self) -> None: ...


class RoundSteps(Protocol):
    """What happens around the rounds (retraining, evaluation, reload)."""

    def initial(self) -> Estimate | None:
        """The estimate for the version serving round 0, if any."""

    def between(self, finished_round: int) -> Estimate:
        """After a round: learn from its log, load a new version, return its estimate."""


def outcome_records(
    turns: Turns, decided: Decided, outcomes: Outcomes, now_s: int | None = None
) -> list[OutcomeRecord]:
    """One outcome per decision, observed now (wall clock), as a bot would report it.

    The turn's own time is simulated (it drives the local-hour inputs), but the server
    stamps its decision with its own clock and the reward wait is measured from there,
    so the outcome's event time is the real time it is sent (``now_s``)."""
    sent = int(time.time()) if now_s is None else now_s
    return [
        OutcomeRecord(
            decision_id=decided.decision_ids[i],
            resolved=bool(outcomes.resolved[i]),
            escalated=bool(outcomes.escalated[i]),
            csat=None if np.isnan(outcomes.csat[i]) else int(outcomes.csat[i]),
            event_s=sent,
            request_id=decided.request_ids[i],
        )
        for i in range(len(turns))
    ]


#: Extra metrics of a played round: (turns, decided, outcomes, boost) -> keys of its row.
Observer = Callable[[Turns, Decided, Outcomes, np.ndarray | None], dict[str, Any]]


class Replay:
    """Runs the rounds; :meth:`run` returns ``{"rounds": [...]}`` (docs/learning-loop.md).

    ``effects`` (arm -> success shift, :mod:`training.replay.experiment`) change the
    outcomes of the turns each arm answered; ``observer`` adds keys to every round's row
    (per-arm and shadow values); ``store`` is applied before the world's first drifted
    turn of a round is sent, and restored before the next round."""

    def __init__(
        self,
        channel: grpc.Channel,
        world: World,
        steps: RoundSteps,
        turns: int = 20_000,
        sender: Sender = send_outcomes,
        batch_size: int = 500,
        fresh_turns: bool = False,
        seed: int = 7,
        effects: Mapping[str, float] | None = None,
        observer: Observer | None = None,
        store: StoreChange | None = None,
    ) -> None:
        self.channel, self.world, self.steps, self.sender = channel, world, steps, sender
        self.turns, self.batch_size, self.fresh_turns = turns, batch_size, fresh_turns
        self.rng = np.random.default_rng(np.random.SeedSequence([seed, 0x0C0FFEE]))
        self.effects, self.observer, self.store = dict(effects or {}), observer, store

    def play(self, index: int) -> tuple[Turns, Decided, Outcomes, np.ndarray | None]:
        """One round: decide, draw outcomes (with the arms' effects), send them."""
        turns = self.world.turns(self.turns, index if self.fresh_turns else 0)
        requests = build_requests(turns, index)
        drift = self.world.drift
        if self.store is None or drift is None or not drift.mask(turns.event_s).any():
            decided = decide(self.channel, requests, self.batch_size)
        else:  # the store changes between the last turn before the drift and the first after
            self.store.restore()
            split = int(np.argmax(drift.mask(turns.event_s)))
            before = decide(self.channel, requests[:split], self.batch_size)
            self.store.apply()
            decided = concat(before, decide(self.channel, requests[split:], self.batch_size))
        boost = None
        if self.effects:
            boost = np.array([self.effects.get(a, 0.0) for a in decided.arms])
        outcomes = turns.draw_outcomes(decided.actions, self.rng, boost=boost)
        self.sender(self.channel, outcome_records(turns, decided, outcomes))
        return turns, decided, outcomes, boost

    def run(self, rounds: int, progress: Progress | None = None) -> dict[str, Any]:
        """Play ``rounds`` rounds with :meth:`RoundSteps.between` after all but the last."""
        progress = progress or Progress("replay", rounds)
        estimate = self.steps.initial()
        rows: list[dict[str, Any]] = []
        previous: float | None = None
        for r in range(rounds):
            with progress.stage(f"round {r}: {self.turns:,} turns"):
                turns, decided, outcomes, boost = self.play(r)
                row = round_row(r, turns, decided, outcomes, estimate, previous, boost)
                row["logging_on_same_turns"] = r == 0 or not self.fresh_turns
                if self.observer is not None:
                    row.update(self.observer(turns, decided, outcomes, boost))
                previous = row["true_value"]
                rows.append(row)
                progress.say(summary_line(row))
            if r < rounds - 1:
                with progress.stage(f"learn from round {r}"):
                    estimate = self.steps.between(r)
        return {"rounds": rows}


def round_row(
    index: int,
    turns: Turns,
    decided: Decided,
    outcomes: Outcomes,
    estimate: Estimate | None,
    previous_true: float | None,
    boost: np.ndarray | None = None,
) -> dict[str, Any]:
    """Metrics of a round. ``logging_value``: the simulator's logging policy in round 0,
    else the previous version's true value (the same turns unless fresh_turns)."""
    versions = Counter(decided.versions)
    true_value = turns.true_value(decided.actions, boost)
    logging = turns.logging_value() if previous_true is None else previous_true
    return {
        "round": index,
        "version": versions.most_common(1)[0][0],
        "versions": dict(versions),
        "turns": len(turns),
        "true_value": round(true_value, 5),
        "oracle_value": round(turns.oracle_value(), 5),
        "logging_value": round(logging, 5),
        "realized_reward": round(float(outcomes.reward.mean()), 5),
        "dr_estimate": None if estimate is None else estimate.dr_estimate,
        "dr_ci": None if estimate is None or estimate.dr_ci is None else list(estimate.dr_ci),
        "estimated_version": None if estimate is None else estimate.version,
        "mean_propensity": round(float(decided.propensity.mean()), 5),
    }


def summary_line(row: dict[str, Any]) -> str:
    """One human line per round for stderr."""
    dr = row["dr_estimate"]
    return (
        f"version {row['version']}: true {row['true_value']:.4f} oracle {row['oracle_value']:.4f} "
        f"({row['true_value'] / row['oracle_value']:.3f} x) logging {row['logging_value']:.4f} "
        f"reward {row['realized_reward']:.4f} dr {'-' if dr is None else f'{dr:.4f}'}"
    )
