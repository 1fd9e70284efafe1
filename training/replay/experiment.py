"""Experiments in the replay: serve an A/B split with shadows, inject a true arm effect,
and score every arm and shadow against the ground truth.

* ``--experiment control=V1:0.5,treatment=V2:0.5`` (weight optional, default 1; the arm
  named ``control``, else the first, is the control) and ``--shadow V3`` become
  ``models/experiment.json`` (:mod:`modelio.experiment`), which the server loads with
  ``AdminService/LoadExperiment`` (a server the replay starts reads it at start too).
* ``--effect treatment=0.05``: every turn the server assigned to that arm has its true
  success probability raised by 0.05 for every action (clipped to [0, 1];
  :meth:`training.replay.world.Turns.draw_outcomes`), so the arm's true lift is known:
  its ``true_value`` minus the control's, both reported.
* Shadows: the server logs the shadow's full action distribution per served decision
  (``modelio.logrecords``); once the round's rows are in the file log its true value is
  Σ_a π_shadow(a|x) p(a|x) over the turns (the same boosted p as the arm it rode on).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pyarrow.compute as pc

from modelio.experiment import Arm, Experiment, write_experiment
from modelio.logrecords import DECISIONS, SHADOW_ARM_PREFIX, read_log
from modelio.vocab import ACTIONS
from personalization.v1 import admin_pb2, admin_pb2_grpc
from training.replay.decide_rpc import Decided
from training.replay.world import Outcomes, Turns

_ID_MARK = ":" + SHADOW_ARM_PREFIX


def _pairs(spec: str, what: str) -> list[tuple[str, str]]:
    pairs = []
    for item in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ValueError(f"{what}: expected NAME=VALUE[,...], got {item!r}")
        pairs.append((key.strip(), value.strip()))
    return pairs


def parse_experiment(spec: str, shadows: Sequence[str] = (), salt: str = "replay") -> Experiment:
    """``arm=version[:weight],...`` (+ shadow versions) as a validated Experiment."""
    arms = []
    for name, value in _pairs(spec, "--experiment"):
        version, _, weight = value.partition(":")
        arms.append((name, version, float(weight) if weight else 1.0))
    control = next((n for n, _, _ in arms if n == "control"), arms[0][0] if arms else "")
    return Experiment(
        name="replay",
        salt=salt,
        arms=tuple(Arm(name=n, version=v, weight=w, control=n == control) for n, v, w in arms),
        shadow=tuple(shadows),
    )


def parse_effects(spec: str | None) -> dict[str, float]:
    """``arm=delta,...`` -> {arm: delta} (true success probability added to the arm)."""
    return {arm: float(delta) for arm, delta in _pairs(spec or "", "--effect")}


def load_experiment(channel: grpc.Channel, models_dir: Path, experiment: Experiment) -> str:
    """Write ``models_dir/experiment.json`` and have the server load it; its summary."""
    write_experiment(models_dir, experiment)
    stub = admin_pb2_grpc.AdminServiceStub(channel)
    reply = stub.LoadExperiment(admin_pb2.LoadExperimentRequest(), timeout=120.0)
    return str(reply.message)


def arm_metrics(
    turns: Turns, decided: Decided, outcomes: Outcomes, boost: np.ndarray | None
) -> dict[str, dict[str, Any]]:
    """Per arm: turns, version(s), true value (with its effect), realized reward."""
    arms = np.asarray(decided.arms)
    versions = np.asarray(decided.versions)
    chosen = turns.success(boost)[np.arange(len(turns)), decided.actions]
    out: dict[str, dict[str, Any]] = {}
    for arm in sorted(set(decided.arms)):
        on = arms == arm
        out[arm] = {
            "turns": int(on.sum()),
            "versions": sorted(set(versions[on].tolist())),
            "effect": 0.0 if boost is None else float(boost[on][0]),
            "true_value": round(float(chosen[on].mean()), 5),
            "realized_reward": round(float(outcomes.reward[on].mean()), 5),
        }
    return out


def shadow_probabilities(
    log_dir: Path, decision_ids: Sequence[str], version: str, timeout: float = 60.0
) -> np.ndarray:
    """The shadow's logged action distribution for each served decision (n x 7), once
    every row is in the file log (the writer flushes every ``decision_log_flush_s``)."""
    wanted = {d: i for i, d in enumerate(decision_ids)}
    deadline = time.monotonic() + timeout
    while True:
        log = read_log(log_dir, DECISIONS)
        rows = log.filter(pc.equal(log["arm"], SHADOW_ARM_PREFIX + version)).select(
            ["decision_id", "probabilities"]
        )
        out = np.full((len(wanted), len(ACTIONS)), np.nan)
        for row in rows.to_pylist():
            i = wanted.get(row["decision_id"].split(_ID_MARK, 1)[0])
            if i is not None:
                out[i] = row["probabilities"]
        if not np.isnan(out).any():
            return out
        if time.monotonic() > deadline:
            missing = int(np.isnan(out[:, 0]).sum())
            raise TimeoutError(f"{missing} shadow rows of {version} not in {log_dir} after "
                               f"{timeout:.0f}s")  # fmt: skip
        time.sleep(0.5)


def shadow_metrics(
    log_dir: Path, turns: Turns, decided: Decided, boost: np.ndarray | None, shadows: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Per shadow version: its true value on the round's turns (from its logged choices)."""
    out: dict[str, dict[str, Any]] = {}
    for version in shadows:
        pi = shadow_probabilities(log_dir, decided.decision_ids, version)
        out[version] = {"turns": len(turns), "true_value": round(turns.policy_value(pi, boost), 5)}
    return out
