"""The replay world: simulated turns with their ground truth, and outcomes drawn from it.

A turn is a customer (drawn with probability proportional to the latent ticket rate,
like the simulator's Poisson ticket counts), a time after the materialized snapshot
(the simulator's diurnal profile, :func:`training.sim.tickets.open_times`) and a turn
context (:func:`training.sim.tickets.turn_context`). Its ``state`` is the customer's
served features + context + latent patience (:mod:`training.replay.population`), so
every probability below comes from :mod:`training.sim.truth` on that state.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from modelio.policy import Eligibility, PolicyConfig, eligible_mask
from modelio.reward import RewardConfig, reward_of
from modelio.vocab import ACTIONS, CHANNELS, DEVICES, ISSUE_CATEGORIES, PLAN_TIERS
from training.replay.drift import Drift
from training.replay.population import Population, state_from_features
from training.sim.config import DAY, TIMEZONES
from training.sim.outcomes import resolve_tickets
from training.sim.tickets import open_times, turn_context
from training.sim.truth import (
    eligible_actions,
    escalation_logit,
    logging_policy,
    resolve_logits,
    sigmoid,
    success_probabilities,
)

#: The policy's default rules (training/policy.yaml may override; pass its config).
DEFAULT_POLICY = PolicyConfig.model_validate({})
_STREAM = 0x5EED  # keeps replay generators apart from the simulator's (seed, block) ones
_DRIFT_STREAM = 0xD81F  # the drift's own draws, so turns without drift never change


def true_success(state: dict[str, np.ndarray]) -> np.ndarray:
    """True P(success | state, action), shape (n, 7), via truth.success_probabilities."""
    return success_probabilities(state, sigmoid(escalation_logit(state)))


def eligible(state: dict[str, np.ndarray], config: PolicyConfig | None = None) -> np.ndarray:
    """Actions the served policy may take, (n, 7): the truth's consent/tier rules and the
    policy's own (modelio.policy: without consent the tier is unknown, so no priority)."""
    cfg = config or DEFAULT_POLICY
    rules = np.zeros((len(state["tier"]), len(ACTIONS)), dtype=bool)
    for consent in (False, True):
        for tier in range(len(PLAN_TIERS)):
            rows = (state["consent"] == consent) & (state["tier"] == tier)
            who = Eligibility(consent, PLAN_TIERS[tier] if consent else None, True)
            rules[rows] = eligible_mask(who, cfg)
    return eligible_actions(state) & rules


@dataclass(frozen=True)
class Outcomes:
    """Drawn outcomes of a batch of turns (``csat`` NaN when the customer did not answer)."""

    resolved: np.ndarray
    escalated: np.ndarray
    csat: np.ndarray
    reward: np.ndarray


@dataclass
class Turns:
    """A batch of turns: ids, times, context and the truth's state (row-aligned)."""

    customer_ids: np.ndarray
    event_s: np.ndarray
    zone: np.ndarray
    state: dict[str, np.ndarray]
    policy: PolicyConfig = DEFAULT_POLICY

    def __len__(self) -> int:
        return len(self.event_s)

    @cached_property
    def p_escalate(self) -> np.ndarray:
        """True escalation probability of every turn."""
        return sigmoid(escalation_logit(self.state))

    @cached_property
    def p_success(self) -> np.ndarray:
        """True success probability of every action, (n, 7)."""
        return success_probabilities(self.state, self.p_escalate)

    @cached_property
    def eligible(self) -> np.ndarray:
        """Eligible actions, (n, 7) (see :func:`eligible`)."""
        return eligible(self.state, self.policy)

    def names(self) -> dict[str, list[str]]:
        """The context as vocabulary names and IANA zones, for building requests."""
        s = self.state
        return {
            "channel": [CHANNELS[i] for i in s["channel"]],
            "device": [DEVICES[i] for i in s["device"]],
            "category": [ISSUE_CATEGORIES[i] for i in s["category"]],
            "timezone": [TIMEZONES[i] for i in self.zone],
        }

    def success(self, boost: np.ndarray | None = None) -> np.ndarray:
        """True success probabilities (n, 7), each row shifted by ``boost`` (an injected
        effect of the turn's experiment arm, :mod:`training.replay.experiment`)
        and clipped to [0, 1]."""
        if boost is None:
            return self.p_success
        return np.clip(self.p_success + np.asarray(boost)[:, None], 0.0, 1.0)

    def true_value(self, actions: np.ndarray, boost: np.ndarray | None = None) -> float:
        """Mean true success probability of the chosen ``actions`` (indexes into ACTIONS)."""
        return float(self.success(boost)[np.arange(len(self)), actions].mean())

    def policy_value(self, probabilities: np.ndarray, boost: np.ndarray | None = None) -> float:
        """Mean true value of a stochastic policy given as (n, 7) probabilities."""
        return float((probabilities * self.success(boost)).sum(axis=1).mean())

    def oracle_value(self) -> float:
        """Mean over turns of the best eligible action's true success probability."""
        return float(np.where(self.eligible, self.p_success, -np.inf).max(axis=1).mean())

    def logging_value(self) -> float:
        """True value of the simulator's logging policy (the history's) on these turns."""
        return self.policy_value(logging_policy(self.state, eligible_actions(self.state)))

    def draw_outcomes(
        self,
        actions: np.ndarray,
        rng: np.random.Generator,
        reward: RewardConfig | None = None,
        boost: np.ndarray | None = None,
    ) -> Outcomes:
        """Escalation ~ p_escalate, then resolution ~ sigmoid(resolve_logit(action)) among
        the others (as the simulator draws ``success``), then csat by the simulator's model.

        ``boost`` (per turn) moves P(success) from p to clip(p + boost): failures turn
        into successes (resolved, not escalated) with probability boost / (1 - p), or
        successes into unresolved failures with probability -boost / p."""
        n, rows = len(self), np.arange(len(self))
        s = self.state
        escalated = rng.random(n) < self.p_escalate
        q = sigmoid(resolve_logits(s, self.p_escalate))[rows, actions]
        resolved = ~escalated & (rng.random(n) < q)
        if boost is not None:
            escalated, resolved = _boosted(self.p_success[rows, actions], boost, escalated,
                                           resolved, rng)  # fmt: skip
        tk = {
            "category": s["category"],
            "channel": s["channel"],
            "sentiment": s["sentiment"],
            "turn_index": s["turn_index"],
            "open_s": self.event_s,
            "escalated": escalated,
            "res_noise": rng.normal(0, 0.6, n),
            "u_csat": rng.random(n),
            "csat_noise": rng.normal(0, 0.7, n),
            "extra_turns": rng.poisson(2.0, n),
            "resolution_hours": np.zeros(n),
            "close_s": np.zeros(n, dtype=np.int64),
            "csat": np.full(n, np.nan),
            "turn_count": np.zeros(n, dtype=np.int64),
        }
        resolve_tickets(tk, rows, resolved.astype(np.int64))
        cfg = reward or RewardConfig()
        csat = [None if np.isnan(c) else int(c) for c in tk["csat"]]
        values = [
            reward_of(bool(r), bool(e), c, cfg)
            for r, e, c in zip(resolved, escalated, csat, strict=True)
        ]
        return Outcomes(resolved, escalated, tk["csat"], np.asarray(values, dtype=np.float64))


def _boosted(
    p: np.ndarray,
    boost: np.ndarray,
    escalated: np.ndarray,
    resolved: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """(escalated, resolved) with P(resolved and not escalated) moved from p to p + boost."""
    boost = np.asarray(boost, dtype=np.float64)
    success = resolved & ~escalated
    u = rng.random(len(p))
    with np.errstate(divide="ignore", invalid="ignore"):
        up = (boost > 0) & ~success & (u < boost / np.maximum(1.0 - p, 1e-12))
        down = (boost < 0) & success & (u < -boost / np.maximum(p, 1e-12))
    return escalated & ~up, (resolved | up) & ~down


class World:
    """Draws seeded batches of turns from a :class:`Population`, optionally drifted
    (:class:`training.replay.drift.Drift`: turns after its time change, the rest do not)."""

    def __init__(
        self,
        population: Population,
        seed: int = 7,
        policy: PolicyConfig | None = None,
        drift: Drift | None = None,
    ) -> None:
        self.population = population
        self.seed = seed
        self.policy = policy or DEFAULT_POLICY
        self.drift = drift

    def turns(self, n: int, index: int = 0, days: int = 1) -> Turns:
        """``n`` turns over ``days`` days starting ``index * days`` days after the snapshot,
        sorted by time; the same (seed, index) always gives the same turns."""
        pop = self.population
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, _STREAM, index]))
        who = rng.choice(len(pop), size=n, p=pop.ticket_rate / pop.ticket_rate.sum())
        start = pop.snapshot_s + index * days * DAY
        t = open_times(rng, who, pop.zone, start, start + days * DAY + 60)
        order = np.argsort(t, kind="stable")
        who, t = who[order], t[order]
        if self.drift is not None:
            drift_rng = np.random.default_rng(
                np.random.SeedSequence([self.seed, _DRIFT_STREAM, index])
            )
            who = self.drift.customers(drift_rng, pop, who, t)
        context = turn_context(rng, pop.archetype[who], pop.zone[who], t)
        zone = context.pop("zone")
        customer = {k: v[who] for k, v in pop.features.items()}
        if self.drift is not None:
            self.drift.apply_context(context, t)
            self.drift.apply_state(customer, t)
        state = state_from_features(customer, context, pop.patience[who], turn_counted=False)
        return Turns(pop.ids[who], t, zone, state, self.policy)
