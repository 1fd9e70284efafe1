"""Sample-ratio mismatch: are decisions split between arms as the experiment says?

Pearson's chi-square goodness-of-fit test of the observed decisions per arm O_i against
the expected E_i = N · w_i / Σw (weights w from ``--weights``, from the log's
``arm_weight`` column when the server logs one, else equal)::

    χ² = Σ_i (O_i - E_i)² / E_i,    p = P(χ²_{k-1} ≥ χ²)

A mismatch means the assignment or the logging is broken (a crashing arm, a bot filter,
a redirect), and every other number of the report is suspect. The flag threshold is
p < 0.001, as in Fabijan et al., "Diagnosing Sample Ratio Mismatch in Online Controlled
Experiments" (KDD 2019) and Kohavi, Tang & Xu, *Trustworthy Online Controlled
Experiments* (2020) ch. 21: strict, because the test is run on every experiment every day.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from scipy.stats import chi2

SRM_THRESHOLD = 0.001
WEIGHT_COLUMN = "arm_weight"


class WeightsError(ValueError):
    """``--weights`` is neither ``arm=w,...`` nor a readable experiment file."""


def chi_square(observed: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(χ², p) over the last axis (arms); leading axes are independent tests."""
    observed = np.asarray(observed, dtype=float)
    w = np.asarray(weights, dtype=float)
    expected = observed.sum(axis=-1, keepdims=True) * w / w.sum()
    stat = ((observed - expected) ** 2 / expected).sum(axis=-1)
    return stat, chi2.sf(stat, df=observed.shape[-1] - 1)


def srm_test(
    counts: Mapping[str, int], weights: Mapping[str, float], threshold: float = SRM_THRESHOLD
) -> dict[str, Any]:
    """The report's ``srm`` object for decisions per arm and their intended weights."""
    arms = sorted(set(counts) | set(weights))
    w = np.array([float(weights.get(a, 0.0)) for a in arms])
    if (w <= 0).any():
        missing = [a for a, x in zip(arms, w, strict=True) if x <= 0]
        raise WeightsError(f"arms with decisions but no weight: {', '.join(missing)}")
    observed = np.array([int(counts.get(a, 0)) for a in arms])
    stat, p = chi_square(observed, w)
    expected = observed.sum() * w / w.sum()
    return {
        "observed": dict(zip(arms, observed.tolist(), strict=True)),
        "expected": dict(zip(arms, expected.round(1).tolist(), strict=True)),
        "weights": dict(zip(arms, (w / w.sum()).tolist(), strict=True)),
        "chi2": float(stat),
        "df": len(arms) - 1,
        "p_value": float(p),
        "threshold": threshold,
        "mismatch": bool(p < threshold),
    }


def parse_weights(text: str) -> dict[str, float]:
    """``arm=w,...`` or the path of a JSON/YAML file: ``{arm: w}`` or ``{arms: {arm: w}}``
    (or ``{arms: [{name, weight}, ...]}``)."""
    path = Path(text)
    if path.is_file():
        return _weights_file(path)
    out: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip() or out.get(name.strip(), 0) <= 0:
            raise WeightsError(f"--weights: {item!r} is not arm=positive_weight")
    if len(out) < 2:
        raise WeightsError("--weights needs at least two arms (arm=w,arm=w)")
    return out


def _weights_file(path: Path) -> dict[str, float]:
    import yaml

    try:
        data = (
            yaml.safe_load(path.read_text())
            if path.suffix != ".json"
            else json.loads(path.read_text())
        )
        arms = data.get("arms", data) if isinstance(data, dict) else None
        if isinstance(arms, list):
            arms = {a["name"]: a["weight"] for a in arms}
        weights = {str(k): float(v) for k, v in arms.items()}  # type: ignore[union-attr]
    except (OSError, ValueError, TypeError, KeyError, AttributeError, yaml.YAMLError) as exc:
        raise WeightsError(f"--weights {path}: not an experiment file ({exc})") from exc
    if len(weights) < 2 or min(weights.values()) <= 0:
        raise WeightsError(f"--weights {path}: needs at least two arms with positive weights")
    return weights


def logged_weights(decisions: pa.Table) -> dict[str, float] | None:
    """The last logged ``arm_weight`` of each arm, if the decision log carries one."""
    if WEIGHT_COLUMN not in decisions.column_names:
        return None
    frame = decisions.select(["arm", WEIGHT_COLUMN]).to_pandas().dropna()
    if frame.empty:
        return None
    return {str(k): float(v) for k, v in frame.groupby("arm")[WEIGHT_COLUMN].last().items()}
