"""Check that the simulated ground truth is learnable (numbers quoted in docs/data.md).

``python -m training.sim.verify --data-dir feature_repo/data`` prints JSON with:

* segments: StandardScaler -> KMeans, K by silhouette in 3..9, ARI against the true
  archetypes (also with PCA in the pipeline);
* escalation: LightGBM on encode_inputs features of point-in-time joined tickets,
  time-ordered 70/30 split, test AUC next to the oracle AUC on the same rows;
* nba: LightGBM reward model on encode_inputs + action one-hot, trained on the first
  70% of logged decisions; argmax over eligible actions on the last 30%, scored with
  the TRUE success probabilities. Only the first decided turn of each ticket, whose
  inputs are the ticket's (later turns and their conversation inputs:
  ``python -m training compare-conversation``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelio.context import ESCALATION_INPUTS, SEGMENT_INPUTS, customer_inputs
from modelio.vocab import ACTIONS, ENGAGEMENT_FEATURES, PLAN_TIERS, PROFILE_FEATURES
from training.sim.join import encode_frame, ticket_frame
from training.sim.summary import auc

_LGB: dict[str, Any] = {
    "n_estimators": 400,
    "learning_rate": 0.04,
    "num_leaves": 31,
    "min_child_samples": 40,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "verbose": -1,
    "random_state": 0,
}


def segment_check(data_dir: Path, seed: int = 0) -> dict[str, Any]:
    """KMeans on SEGMENT_INPUTS of consenting customers (latest profile + engagement)."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import adjusted_rand_score, silhouette_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    prof = pd.read_parquet(data_dir / "customer_profile.parquet").groupby("customer_id").last()
    eng = pd.read_parquet(data_dir / "engagement.parquet").groupby("customer_id").last()
    truth = pd.read_parquet(data_dir / "truth" / "customers.parquet").set_index("customer_id")
    df = prof[list(PROFILE_FEATURES)].join(eng[list(ENGAGEMENT_FEATURES)]).join(truth["archetype"])
    df = df[df["personalization_consent"]]
    now = pd.Timestamp(eng["event_timestamp"].max()).to_pydatetime()
    x = np.array(
        [[customer_inputs(r, now)[n] for n in SEGMENT_INPUTS] for r in df.to_dict("records")]
    )
    out: dict[str, Any] = {"customers": len(df)}
    for label, steps in (
        ("kmeans", []),
        ("pca_kmeans", [PCA(n_components=0.95, random_state=seed)]),
    ):
        z = make_pipeline(StandardScaler(), *steps).fit_transform(x)
        scores = {}
        for k in range(3, 10):
            pred = KMeans(k, n_init=4, random_state=seed).fit_predict(z)
            scores[k] = (
                silhouette_score(z, pred, sample_size=min(len(z), 8000), random_state=seed),
                pred,
            )
        best = max(scores, key=lambda k: scores[k][0])
        out[label] = {
            "silhouette": {k: round(float(v[0]), 4) for k, v in scores.items()},
            "best_k": best,
            "ari": round(adjusted_rand_score(df["archetype"], scores[best][1]), 4),
        }
    return out


def _split(df: pd.DataFrame, share: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(df["event_timestamp"].to_numpy(), kind="stable")
    cut = int(len(order) * share)
    return order[:cut], order[cut:]


def _proba(model: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict_proba(x))[:, 1]


def escalation_check(tickets: pd.DataFrame, x: np.ndarray) -> dict[str, Any]:
    """LightGBM test AUC vs the oracle AUC on a time-ordered split."""
    import lightgbm as lgb

    train, test = _split(tickets)
    y = tickets["escalated"].to_numpy()
    model = lgb.LGBMClassifier(**_LGB).fit(x[train], y[train])
    pred = np.asarray(model.predict_proba(x[test]))[:, 1]
    oracle = auc(tickets["p_escalate"].to_numpy()[test], y[test])
    return {
        "train": len(train),
        "test": len(test),
        "lightgbm_auc": round(auc(pred, y[test]), 4),
        "oracle_auc": round(oracle, 4),
        "gap": round(oracle - auc(pred, y[test]), 4),
    }


def nba_check(data_dir: Path, tickets: pd.DataFrame, x: np.ndarray) -> dict[str, Any]:
    """Reward model -> argmax over eligible actions; true value vs oracle and logging."""
    import lightgbm as lgb

    dec = pd.read_parquet(data_dir / "decisions.parquet")
    dec = dec.merge(pd.read_parquet(data_dir / "truth" / "decisions.parquet"), on="decision_id")
    dec = dec[dec["decision_id"].str.endswith("-1")].reset_index(drop=True)  # first turns
    row = pd.Series(np.arange(len(tickets)), index=tickets["ticket_id"])[
        dec["ticket_id"]
    ].to_numpy()
    ctx = tickets.iloc[row].reset_index(drop=True)
    n_a = len(ACTIONS)
    onehot = np.eye(n_a)[dec["action"].map({a: i for i, a in enumerate(ACTIONS)}).to_numpy()]
    train, test = _split(dec)
    model = lgb.LGBMClassifier(**_LGB).fit(
        np.hstack([x[row][train], onehot[train]]), dec["success"].to_numpy()[train]
    )
    xt = x[row][test]
    scores = np.column_stack(
        [_proba(model, np.hstack([xt, np.tile(np.eye(n_a)[a], (len(xt), 1))])) for a in range(n_a)]
    )
    eligible = np.ones((len(test), n_a), dtype=bool)
    eligible[:, ACTIONS.index("retention_offer")] = (
        ctx["personalization_consent"].fillna(False).to_numpy(dtype=bool)[test]
    )
    eligible[:, ACTIONS.index("priority_queue")] = (
        ctx["plan_tier"].isin(PLAN_TIERS[2:]).to_numpy()[test]
    )
    truth = dec[[f"p_success__{a}" for a in ACTIONS]].to_numpy()[test]
    chosen = np.where(eligible, scores, -np.inf).argmax(axis=1)
    learned = truth[np.arange(len(test)), chosen].mean()
    oracle = np.where(eligible, truth, -np.inf).max(axis=1).mean()
    logging = truth[np.arange(len(test)), dec["action"].map(ACTIONS.index).to_numpy()[test]].mean()
    return {
        "train": len(train),
        "test": len(test),
        "learned_value": round(float(learned), 4),
        "oracle_value": round(float(oracle), 4),
        "logging_value_estimate": round(float(logging), 4),
        "learned_over_oracle": round(float(learned / oracle), 4),
        "learned_over_logging": round(float(learned / logging), 4),
    }


def verify(data_dir: Path) -> dict[str, Any]:
    """Run all three checks on a simulated data directory."""
    tickets = ticket_frame(data_dir)
    x = encode_frame(tickets, ESCALATION_INPUTS)
    return {
        "escalation": escalation_check(tickets, x),
        "nba": nba_check(data_dir, tickets, x),
        "segments": segment_check(data_dir),
        "summary": json.loads((data_dir / "truth" / "summary.json").read_text()),
    }


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("feature_repo/data"))
    parser.add_argument("--only", choices=("escalation", "nba", "segments"))
    args = parser.parse_args(argv)
    if args.only == "segments":
        result: dict[str, Any] = segment_check(args.data_dir)
    else:
        result = verify(args.data_dir)
    json.dump(result, sys.stdout, indent=2, default=str)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
