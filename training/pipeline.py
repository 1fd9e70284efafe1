"""The training pipeline: point-in-time training sets → three models → checked export.

Stages (printed with timings on stderr): feast apply and point-in-time joins, defaults
and inputs, segments, escalation risk, next-best-action, ONNX export with parity
checks, then model card, manifest (with the training distributions the drift monitor
compares against) and the ``models/current`` pointer. See docs/training.md.

``train --from-log`` passes the logged-bandit dataset as ``logged``: the next-best-action
reward model is then fitted on the source decisions plus the served traffic, and its
off-policy estimate is cross-fitted over every logged decision
(:mod:`training.feedback.crossfit`); everything else is unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from lightgbm import LGBMClassifier

from modelio.context import ESCALATION_CONVERSATION_INPUTS, SEGMENT_INPUTS
from modelio.manifest import Manifest, ModelFile, set_current, write_manifest
from modelio.store import open_store
from modelio.vocab import ACTIONS, FEATURE_SERVICE
from training.data import inputs
from training.data.frames import Frames, data_hash, load_frames, sample_frames, split_by_time
from training.data.turn_rows import escalation_rows, escalation_sets, model_inputs
from training.export import card, graphs
from training.export.parity import Holdout, check_parity
from training.feedback.logged import LoggedSets
from training.fit import nba
from training.fit.escalation import (
    EscalationModel,
    escalation_metrics,
    fit_escalation,
)
from training.fit.segment import SegmentFit, fit_segments, segment_metrics, segment_sets
from training.monitor.fit import training_distributions
from training.nba_stage import train_nba, train_nba_from_log
from training.progress import Progress

DEFAULT_SEED = 7


@dataclass
class TrainResult:
    """What one training run produced (native models kept for parity tests)."""

    version_dir: Path
    segment: SegmentFit
    escalation: EscalationModel
    reward: LGBMClassifier
    holdout: Holdout
    defaults: dict[str, float]
    metrics: dict[str, Any]
    manifest: Manifest | None = None


def version_name(now: datetime | None = None) -> str:
    """``personalization_v1-YYYYMMDDTHHMMSSZ``."""
    return f"{FEATURE_SERVICE}-{(now or datetime.now(UTC)):%Y%m%dT%H%M%SZ}"


def _train_segments(
    frames: Frames, defaults: dict[str, float], seed: int, progress: Progress
) -> tuple[SegmentFit, dict[str, Any], np.ndarray, Holdout]:
    fit_x, hold_x, truth = segment_sets(frames, defaults)
    segment = fit_segments(fit_x, seed)
    labels = segment.pipeline.predict(hold_x)
    metrics: dict[str, Any] = segment_metrics(hold_x, labels, truth, segment.k, seed)
    metrics["silhouette_curve"] = {str(k): round(v, 4) for k, v in segment.curve.items()}
    progress.say(f"K={segment.k}: " + ", ".join(s.name for s in segment.names))
    return segment, metrics, fit_x, Holdout(hold_x, truth)


def _train_escalation(
    sets: list[tuple[np.ndarray, np.ndarray]], p_true: np.ndarray | None, seed: int
) -> tuple[EscalationModel, dict[str, Any]]:
    (x, y), (x_val, y_val), (x_test, y_test) = sets
    model = fit_escalation(x, y, x_val, y_val, seed)
    metrics = escalation_metrics(y_test, model.predict(x_test), p_true)
    metrics.update({k: round(v, 5) for k, v in model.info.items()})
    return model, metrics


def _export(result: TrainResult, names: tuple[str, ...]) -> dict[graphs.ModelKind, ModelFile]:
    protos: dict[graphs.ModelKind, Any] = {
        "segment": graphs.segment_onnx(result.segment.pipeline, len(SEGMENT_INPUTS)),
        "escalation": graphs.lgbm_onnx(
            result.escalation.booster, len(names), result.escalation.calibration
        ),
        "nba": graphs.lgbm_onnx(result.reward, len(names) + len(ACTIONS)),
    }
    return graphs.export_models(result.version_dir, protos, names)


def _plots(result: TrainResult, fit_x: np.ndarray) -> None:
    out, h, m = result.version_dir, result.holdout, result.metrics
    p_test = result.escalation.predict(h.escalation_x)
    card.plot_roc(out, h.escalation_y, p_test, h.escalation_p_true)
    card.plot_calibration(out, h.escalation_y, p_test)
    card.plot_segments(out, result.segment.names, fit_x.mean(axis=0), fit_x.std(axis=0))
    card.plot_silhouette(out, result.segment.curve, result.segment.k)
    card.plot_policy(out, m["nba"])


def train_version(
    data_dir: Path,
    repo: Path,
    models_dir: Path,
    version: str | None = None,
    seed: int = DEFAULT_SEED,
    kind: str = "sqlite",
    sample: float | None = None,
    logged: LoggedSets | None = None,
    conversation: bool = True,
) -> TrainResult:
    """Run the whole pipeline and export ``models_dir/<version>``; point current at it.

    ``sample`` keeps only that share of the tickets and decisions (a weak version);
    ``logged`` (``--from-log``): the logged decisions join the source decisions in the
    reward model's training and validation sets, and the manifest's off-policy estimate
    is cross-fitted over all of them, each scored by a fit that never saw it.
    ``conversation``: the escalation and reward models also take the conversation
    state's inputs (CONVERSATION_INPUTS, point in time); False trains the layout of
    versions before it (``train --no-conversation-features``)."""
    from training.feast_ops import apply_repo

    progress, policy = Progress("train", 7), graphs.load_policy()
    version_dir = models_dir / (version or version_name())
    if version_dir.exists():
        raise FileExistsError(f"{version_dir} exists; pick another --version")
    with progress.stage("feast apply + point-in-time features"):
        apply_repo(repo, kind)
        frames = load_frames(data_dir, open_store(repo, kind))
        if sample is not None:
            frames = sample_frames(frames, sample, seed)
        progress.say(
            f"{len(frames.tickets):,} tickets, {len(frames.decisions):,} decisions, "
            f"{len(frames.customers):,} customers"
        )
    rows = escalation_rows(frames)
    if conversation and rows is frames.tickets:
        progress.say("decisions without per-turn labels: training without conversation inputs")
        conversation = False
    if logged is not None and logged.data.inputs != model_inputs(conversation):
        conversation = logged.data.inputs == ESCALATION_CONVERSATION_INPUTS
        progress.say(f"the logged inputs' layout decides: conversation inputs {conversation}")
    names = model_inputs(conversation)
    with progress.stage("defaults (training medians) + inputs via modelio.context"):
        defaults = inputs.training_defaults(split_by_time(frames.tickets, frames.window)[0])
        esc_sets = escalation_sets(rows, frames.window, defaults, names)
        decisions = split_by_time(frames.decisions, frames.window)
        policy_sets = [nba.policy_data(part, defaults, policy, names) for part in decisions]
    with progress.stage("segments (silhouette over K, KMeans)"):
        segment, seg_metrics, fit_x, holdout = _train_segments(frames, defaults, seed, progress)
    with progress.stage("escalation risk (LightGBM, early stopping, calibration)"):
        test_rows = split_by_time(rows, frames.window)[2]
        p_true = test_rows["p_escalate"].to_numpy() if "p_escalate" in test_rows else None
        escalation, esc_metrics = _train_escalation(esc_sets, p_true, seed)
        progress.say(json.dumps(esc_metrics))
    source = "source + logged decisions" if logged is not None else "source decisions"
    with progress.stage(f"next-best-action reward model ({source}) + off-policy evaluation"):
        if logged is None:
            reward, nba_metrics = train_nba(policy_sets, escalation, policy, seed)
        else:
            reward, nba_metrics = train_nba_from_log(
                policy_sets, logged, escalation, policy, seed, progress
            )
            # parity and the drift reference: logged rows, the traffic closest to serving
            policy_sets[2] = logged.validation()
        nba_metrics["source"] = source
        progress.say(json.dumps(nba_metrics))
    holdout.escalation_x, holdout.escalation_y = esc_sets[2]
    holdout.escalation_p_true = p_true
    holdout.nba_x = inputs.all_actions_matrix(policy_sets[2].encoded, policy_sets[2].nba_inputs)
    metrics = {
        "escalation": esc_metrics,
        "segment": seg_metrics,
        "nba": nba_metrics,
        "conversation_features": conversation,
    }
    result = TrainResult(version_dir, segment, escalation, reward, holdout, defaults, metrics)
    with progress.stage(f"ONNX export + parity checks → {version_dir}"):
        version_dir.mkdir(parents=True)
        files = _export(result, names)
        paths = {k: version_dir / f.path for k, f in files.items()}
        metrics["parity"] = check_parity(holdout, paths, segment.pipeline, escalation, reward)
        progress.say(json.dumps(metrics["parity"]))
    with progress.stage("plots, model card, manifest, models/current"):
        _plots(result, fit_x)
        metrics["rows"] = {
            "tickets": len(frames.tickets),
            "decisions": len(frames.decisions),
            "escalation_rows": len(rows),
            "logged_decisions": 0 if logged is None else len(logged),
            "customers": len(frames.customers),
            "segment_fit": len(fit_x),
            "sample": sample,
        }
        result.manifest = Manifest(
            version=version_dir.name,
            feature_service=FEATURE_SERVICE,
            created_at=datetime.now(UTC),
            training_window=frames.window,
            data_hash=data_hash(data_dir),
            defaults=defaults,
            models=files,
            segments=segment.names,
            policy=policy,
            metrics=metrics,
            # the reference of the drift monitor: the latest (test) slice, the rows
            # closest to serving (docs/monitoring.md, "The reference")
            distributions=training_distributions(
                esc_sets[2], escalation.predict, reward, policy_sets[2], policy
            ),
        )
        card.model_card(version_dir, result.manifest)
    metrics["timings_seconds"] = progress.timings
    metrics["resources"] = progress.finish()
    result.manifest = result.manifest.model_copy(update={"metrics": metrics})
    write_manifest(version_dir, result.manifest)
    set_current(models_dir, version_dir.name)
    return result
