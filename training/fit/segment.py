"""Customer segments: StandardScaler → PCA → KMeans on SEGMENT_INPUTS, named from centroids.

K is picked in K_RANGE by the silhouette score on a sample (computed in the
standardized input space). Naming rule (docs/training.md), from each cluster's mean
z-scores (members' standardized inputs):

* value = mean z of plan_tier_rank and monthly_spend: > 0.5 ``premium``,
  < -0.5 ``budget``, else ``standard``;
* engagement = mean z of the engagement inputs: > 0.5 ``power_user``,
  < -0.5 ``low_engagement``, else ``regular``;
* tenure z of tenure_months: < -0.5 prefix ``new_``, > 0.5 prefix ``loyal_``.

Duplicates get ``_2``, ``_3``… by decreasing size. Names live in the manifest and may be
edited there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from modelio.context import ENGAGEMENT_INPUTS, SEGMENT_INPUTS, has_consent
from modelio.manifest import SegmentName
from training.data import inputs
from training.data.frames import Frames, is_holdout_customer

K_RANGE: tuple[int, ...] = tuple(range(3, 10))
SILHOUETTE_SAMPLE = 4000
PCA_VARIANCE = 0.95
_IDX = {name: i for i, name in enumerate(SEGMENT_INPUTS)}


@dataclass
class SegmentFit:
    """The fitted pipeline, the chosen K and the silhouette curve it was chosen on."""

    pipeline: Pipeline
    k: int
    curve: dict[int, float]
    names: list[SegmentName]


def make_pipeline(k: int, seed: int) -> Pipeline:
    """StandardScaler → PCA (95 % variance) → KMeans(k)."""
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("pca", PCA(n_components=PCA_VARIANCE, svd_solver="full", random_state=seed)),
            ("kmeans", KMeans(n_clusters=k, n_init=10, random_state=seed)),
        ]
    )


def silhouette(
    x: np.ndarray, labels: np.ndarray, seed: int, sample: int = SILHOUETTE_SAMPLE
) -> float:
    """Silhouette of ``labels`` in the standardized space of ``x`` (on a sample)."""
    z = StandardScaler().fit_transform(x.astype(np.float64))
    if len(np.unique(labels)) < 2:
        return 0.0
    size = min(sample, len(z))
    return float(silhouette_score(z, labels, sample_size=size, random_state=seed))


def silhouette_curve(x: np.ndarray, seed: int, ks: tuple[int, ...] = K_RANGE) -> dict[int, float]:
    """Silhouette for each K, every pipeline fitted on the same random sample."""
    rng = np.random.default_rng(seed)
    sample = x[rng.permutation(len(x))[:SILHOUETTE_SAMPLE]]
    curve = {}
    for k in ks:
        labels = make_pipeline(k, seed).fit_predict(sample)
        curve[k] = silhouette(sample, labels, seed)
    return curve


def _tier(z: float, low: str, mid: str, high: str) -> str:
    return high if z > 0.5 else low if z < -0.5 else mid


def segment_name(z: np.ndarray) -> str:
    """Name of a cluster from its mean z-scores (order of SEGMENT_INPUTS)."""
    value = float(np.mean([z[_IDX["plan_tier_rank"]], z[_IDX["monthly_spend"]]]))
    engagement = float(np.mean([z[_IDX[n]] for n in ENGAGEMENT_INPUTS]))
    tenure = float(z[_IDX["tenure_months"]])
    prefix = "new_" if tenure < -0.5 else "loyal_" if tenure > 0.5 else ""
    value_name = _tier(value, "budget", "standard", "premium")
    engagement_name = _tier(engagement, "low_engagement", "regular", "power_user")
    return f"{prefix}{value_name}_{engagement_name}"


def name_segments(x: np.ndarray, labels: np.ndarray, k: int) -> list[SegmentName]:
    """SegmentName per cluster id: unique name, size share, centroid in input units."""
    mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    out: list[SegmentName] = []
    for cid in range(k):
        members = x[labels == cid]
        centroid = members.mean(axis=0) if len(members) else mean
        out.append(
            SegmentName(
                id=cid,
                name=segment_name((centroid - mean) / std),
                size_share=round(len(members) / max(len(x), 1), 4),
                centroid={
                    n: round(float(v), 4) for n, v in zip(SEGMENT_INPUTS, centroid, strict=True)
                },
            )
        )
    return _unique(out)


def _unique(segments: list[SegmentName]) -> list[SegmentName]:
    seen: dict[str, int] = {}
    for seg in sorted(segments, key=lambda s: -s.size_share):
        count = seen.get(seg.name, 0) + 1
        seen[seg.name] = count
        if count > 1:
            seg.name = f"{seg.name}_{count}"
    return segments


def fit_segments(x: np.ndarray, seed: int) -> SegmentFit:
    """Pick K by silhouette, fit the pipeline on all of ``x`` and name the clusters."""
    curve = silhouette_curve(x, seed)
    k = max(curve, key=lambda key: curve[key])
    pipeline = make_pipeline(k, seed).fit(x)
    labels = pipeline.predict(x)
    return SegmentFit(pipeline, k, curve, name_segments(x, labels, k))


def segment_metrics(
    x: np.ndarray, labels: np.ndarray, truth: np.ndarray | None, k: int, seed: int
) -> dict[str, float]:
    """Holdout silhouette and adjusted Rand index vs the true archetypes (if known)."""
    out: dict[str, float] = {"k": k, "silhouette": round(silhouette(x, labels, seed), 4)}
    if truth is not None:
        out["ari"] = round(float(adjusted_rand_score(truth, labels)), 4)
    return out


def segment_sets(
    frames: Frames, defaults: Mapping[str, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(fit matrix, holdout matrix, holdout archetypes) of consenting customers."""
    customers = frames.customers
    consent = np.array([has_consent(r) for r in inputs.raw_records(customers)], dtype=bool)
    holdout = is_holdout_customer(customers["customer_id"]).to_numpy(dtype=bool)
    x = inputs.segment_matrix(customers, defaults)
    truth = customers["archetype"].to_numpy() if "archetype" in customers else None
    hold = consent & holdout
    return x[consent & ~holdout], x[hold], None if truth is None else truth[hold]
