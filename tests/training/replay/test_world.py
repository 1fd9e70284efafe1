"""The replay world reproduces the simulator's ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from modelio.vocab import ACTIONS, CHANNELS, DEVICES, ISSUE_CATEGORIES, PLAN_TIERS
from training.replay.population import Population, customer_state, state_from_features
from training.replay.world import World, eligible, true_success
from training.sim.config import TIMEZONES
from training.sim.join import ticket_frame
from training.sim.tickets import local_time
from training.sim.truth import escalation_logit, sigmoid

_A = {a: i for i, a in enumerate(ACTIONS)}


def _four_sigma(p: np.ndarray, drawn: np.ndarray) -> None:
    """The drawn rate is within 4 binomial sigmas of the mean true probability."""
    sigma = np.sqrt((p * (1 - p)).sum()) / len(p)
    assert abs(drawn.mean() - p.mean()) < 4 * sigma, (drawn.mean(), p.mean(), sigma)


def test_states_reproduce_truth_on_history(sim_dir: Path) -> None:
    # The world's state builder on the historical tickets (joined at their open time)
    # gives back the simulator's p_escalate and p_success to 1e-9.
    frame = ticket_frame(sim_dir)
    zones = frame["timezone"].map({z: i for i, z in enumerate(TIMEZONES)}).to_numpy()
    open_s = frame["event_timestamp"].astype("int64").to_numpy() // 10**9
    hour, weekday = local_time(open_s, zones)
    context = {
        "sentiment": frame["sentiment"].to_numpy(),
        "category": frame["issue_category"].map(ISSUE_CATEGORIES.index).to_numpy(),
        "channel": frame["channel"].map(CHANNELS.index).to_numpy(),
        "device": frame["device"].map(DEVICES.index).to_numpy(),
        "turn_index": frame["turn_index"].to_numpy(),
        "local_hour": hour,
        "weekday": weekday,
    }
    truth = pd.read_parquet(sim_dir / "truth" / "customers.parquet").set_index("customer_id")
    patience = truth.loc[frame["customer_id"], "patience"].to_numpy()
    state = state_from_features(customer_state(frame), context, patience, turn_counted=True)
    p = sigmoid(escalation_logit(state))
    np.testing.assert_allclose(p, frame["p_escalate"].to_numpy(), rtol=1e-9, atol=1e-12)
    dec = pd.read_parquet(sim_dir / "truth" / "decisions.parquet")
    # a conversation's first decided turn (later turns: tests/training/sim/test_conversations)
    dec = dec[dec["decision_id"].str.endswith("-1")]
    ticket_of = dec["decision_id"].str[:-2].str.replace("D", "T", n=1)
    row = pd.Series(np.arange(len(frame)), index=frame["ticket_id"])[ticket_of].to_numpy()
    expected = dec[[f"p_success__{a}" for a in ACTIONS]].to_numpy()
    got = true_success({k: v[row] for k, v in state.items()})
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_turns_serve_the_snapshot_features(population: Population) -> None:
    turns = World(population, seed=3).turns(5000, index=2)
    assert (turns.event_s >= population.snapshot_s + 2 * 86_400).all()
    assert (np.diff(turns.event_s) >= 0).all()
    pos = pd.Series(np.arange(len(population)), index=population.ids)[turns.customer_ids]
    served = {k: v[pos.to_numpy()] for k, v in population.features.items()}
    for name in ("tier", "ltv", "consent", "active_days", "escalations_90d", "last_csat"):
        np.testing.assert_array_equal(turns.state[name], served[name])
    # The turn itself counts in the history, as in the simulator's ticket-time state.
    np.testing.assert_array_equal(turns.state["tickets_30d"], served["tickets_30d"] + 1)
    np.testing.assert_allclose(turns.p_success, true_success(turns.state), rtol=0, atol=0)
    again = World(population, seed=3).turns(5000, index=2)
    np.testing.assert_array_equal(again.customer_ids, turns.customer_ids)
    other = World(population, seed=3).turns(5000, index=3)
    assert (other.customer_ids != turns.customer_ids).any()


def test_oracle_beats_every_fixed_policy(population: Population) -> None:
    turns = World(population, seed=5).turns(20_000)
    oracle = turns.oracle_value()
    fallback = _A["self_service_article"]  # always eligible
    for a in range(len(ACTIONS)):
        actions = np.where(turns.eligible[:, a], a, fallback)
        assert turns.true_value(actions) <= oracle
    uniform = turns.eligible / turns.eligible.sum(axis=1, keepdims=True)
    assert turns.policy_value(uniform) < turns.logging_value() < oracle
    assert oracle >= 1.3 * turns.logging_value()


def test_drawn_outcomes_converge_to_truth(population: Population) -> None:
    turns = World(population, seed=9).turns(40_000)
    rng = np.random.default_rng(12)
    probs = turns.eligible / turns.eligible.sum(axis=1, keepdims=True)
    actions = (rng.random((len(turns), 1)) > probs.cumsum(axis=1)).sum(axis=1)
    assert turns.eligible[np.arange(len(turns)), actions].all()
    out = turns.draw_outcomes(actions, np.random.default_rng(13))
    p_success = turns.p_success[np.arange(len(turns)), actions]
    _four_sigma(turns.p_escalate, out.escalated)
    _four_sigma(p_success, out.resolved & ~out.escalated)
    np.testing.assert_array_equal(out.reward, (out.resolved & ~out.escalated).astype(float))
    assert not (out.resolved & out.escalated).any()
    for a in (_A["guided_troubleshooting"], _A["human_handoff"]):
        m = actions == a
        _four_sigma(p_success[m], (out.resolved & ~out.escalated)[m])
    answered = ~np.isnan(out.csat)
    assert 0.3 < answered.mean() < 0.8 and set(np.unique(out.csat[answered])) <= {1, 2, 3, 4, 5}
    assert np.nanmean(out.csat[out.escalated]) < np.nanmean(out.csat[out.resolved])


def test_eligibility_respects_consent_and_tier() -> None:
    tiers = np.repeat(np.arange(len(PLAN_TIERS)), 2)
    consent = np.tile([False, True], len(PLAN_TIERS))
    mask = eligible({"tier": tiers, "consent": consent})
    plus = tiers >= PLAN_TIERS.index("plus")
    np.testing.assert_array_equal(mask[:, _A["retention_offer"]], consent)
    np.testing.assert_array_equal(mask[:, _A["priority_queue"]], consent & plus)
    others = [i for a, i in _A.items() if a not in ("retention_offer", "priority_queue")]
    assert mask[:, others].all()
