"""``python -m training experiment-report``: analyse an A/B experiment from the logs.

Reads ``<log-dir>/decisions`` and ``<log-dir>/outcomes``, joins them into rewards
(:mod:`training.feedback.join`, the same rewards as ``feedback``), and reports per
experiment arm (the decision log's ``arm``): decisions, matched outcomes, mean reward and
escalation rate with intervals; the lift over control with fixed-horizon and
always-valid (mSPRT) inference by day; a sample-ratio-mismatch test; the sample size
still needed for 80 % power; the off-policy value (IPS / SNIPS / DR, bootstrap intervals)
of every shadow version found in the log, from its logged rows
(:mod:`training.experiments.shadow`); and, with ``--shadow VERSION``, of that version
re-scored from its model folder on the experiment's decisions
(:mod:`training.feedback.offpolicy`; it replaces a logged estimate of the same version).
Writes ``experiment.md``, ``experiment.json`` and two PNGs under ``--out``; prints a
summary, or the JSON object with ``--json``. See docs/experiments.md.

Exit status: 0 done; 1 the log cannot be analysed (fewer than two arms, an arm without
rewarded decisions); 2 bad arguments (no log folder, bad ``--weights``, ``--control``
naming an arm without decisions).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from modelio.logrecords import DECISIONS, OUTCOMES, read_log
from training.commands.feedback import parse_now
from training.experiments.data import ArmSums, arm_sums
from training.experiments.sequential import DEFAULT_TAU
from training.experiments.srm import WeightsError, logged_weights, parse_weights

EXIT_FAILED, EXIT_USAGE = 1, 2
NAME = "experiment-report"
SHADOW_RESAMPLES = 200


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-dir", type=Path, default=Path("logs"))
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--control", default=None, help='control arm (default "control", '
                        "else the first arm by name)")  # fmt: skip
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level")
    parser.add_argument("--tau", type=float, default=DEFAULT_TAU,
                        help="mSPRT mixture prior s.d. of the effect, reward units")  # fmt: skip
    parser.add_argument("--weights", default=None, help="intended split: arm=w,... or a"
                        " JSON/YAML file (default: logged arm_weight, else equal)")  # fmt: skip
    parser.add_argument("--shadow", action="append", default=[], metavar="VERSION",
                        help="off-policy estimate of this model version (repeatable)")  # fmt: skip
    parser.add_argument("--now", default=None, help="ISO 8601 time the reward wait is measured to")
    parser.add_argument("--out", type=Path, default=Path("reports/experiment"))
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _fail(message: str, code: int) -> int:
    print(f"{NAME}: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    if not args.log_dir.is_dir():
        return _fail(f"no log folder {args.log_dir} (--log-dir)", EXIT_USAGE)
    if not 0 < args.alpha < 1 or args.tau <= 0:
        return _fail("--alpha must be in (0, 1) and --tau positive", EXIT_USAGE)
    try:
        now = parse_now(args.now)
        weights = parse_weights(args.weights) if args.weights else None
    except WeightsError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except ValueError:
        return _fail(f"--now {args.now!r} is not an ISO 8601 time", EXIT_USAGE)
    from training.feedback.dataset import RewardConfigs

    decisions, outcomes = read_log(args.log_dir, DECISIONS), read_log(args.log_dir, OUTCOMES)
    sums = arm_sums(decisions, outcomes, RewardConfigs(args.models_dir), now)
    if not sums.arms:
        return _fail(f"no decisions with an experiment arm under {args.log_dir} "
                     f"({sums.outside:,} outside experiments)", EXIT_FAILED)  # fmt: skip
    listed = ", ".join(sums.arms)
    control = args.control or ("control" if "control" in sums.arms else sums.arms[0])
    if control not in sums.arms:
        return _fail(f"arm {control!r} has no decisions in {args.log_dir} "
                     f"(arms with decisions: {listed})", EXIT_USAGE)  # fmt: skip
    weights = weights or logged_weights(decisions) or dict.fromkeys(sums.arms, 1.0)
    for arm in sorted(set(weights) - set(sums.arms)):
        print(f"{NAME}: arm {arm!r} has no decisions in {args.log_dir} (arms with decisions: "
              f"{listed}); the SRM test counts it as 0", file=sys.stderr)  # fmt: skip
    if len(sums.arms) < 2:
        return _fail(f"only one arm ({listed}) has decisions: nothing to compare", EXIT_FAILED)
    rewarded = sums.n[:, -1] if sums.days else [0] * len(sums.arms)
    for arm, count in zip(sums.arms, rewarded, strict=True):
        if count < 2:
            return _fail(f"arm {arm!r} has {int(count)} rewarded decisions (outcomes "
                         "pending until the reward wait is over; --now)", EXIT_FAILED)  # fmt: skip
    from training.experiments.report import build_report, jsonable

    try:
        report = build_report(sums, control, args.alpha, args.tau, weights)
    except WeightsError as exc:
        return _fail(str(exc), EXIT_USAGE)
    from training.experiments.shadow import logged_shadow_estimates
    from training.feedback.offpolicy import SEED

    shadow = logged_shadow_estimates(decisions, sums.dataset, SHADOW_RESAMPLES, SEED)
    shadow.update(shadow_estimates(args.shadow, args.models_dir, sums))
    if shadow:
        report["shadow"] = shadow
    report = jsonable(report)
    report["files"] = write_outputs(report, args.out)
    print(json.dumps(report) if args.json else summary(report))
    return 0


def shadow_estimates(versions: list[str], models_dir: Path, sums: ArmSums) -> dict[str, Any]:
    """Each version's estimates on the experiment's joined rows it never learnt from."""
    from modelio.manifest import ManifestError
    from training.feedback.dataset import DatasetError
    from training.feedback.offpolicy import SEED, score_rows

    out: dict[str, Any] = {}
    for version in versions:
        folder = models_dir / version
        if "/" in version or not folder.is_dir():
            out[version] = {"skipped": f"no model version {folder}"}
            continue
        try:
            out[version] = {
                "source": "re-scored from the model folder",
                **score_rows(folder, sums.dataset, SHADOW_RESAMPLES, SEED),
            }
        except (ManifestError, DatasetError, ValueError) as exc:
            out[version] = {"skipped": str(exc)}
    return out


def write_outputs(report: dict[str, Any], out: Path) -> dict[str, str]:
    """experiment.md, experiment.json and the PNGs under ``out``."""
    from training.experiments.markdown import render_markdown
    from training.experiments.plots import write_plots

    out.mkdir(parents=True, exist_ok=True)
    pngs = write_plots(report, out)
    (out / "experiment.md").write_text(render_markdown(report))
    (out / "experiment.json").write_text(json.dumps(report, indent=1))
    names = ["experiment.md", "experiment.json", *(p.name for p in pngs)]
    return {name: str(out / name) for name in names}


def summary(report: dict[str, Any]) -> str:
    """A few lines for the terminal; the full report is experiment.md."""
    lines = [f"experiment report, control {report['control']}"]
    for arm, a in report["arms"].items():
        lines.append(f"  {arm:<12} {a['decisions']:>9,} decisions  mean reward "
                     f"{a['mean_reward']:.4f}  escalation {a['escalation_rate']:.4f}")  # fmt: skip
    for arm, lift in report["lift"].items():
        lo, hi = lift["always_valid_ci"]
        lines.append(f"  lift {arm}: {lift['difference']:+.4f} always-valid CI [{lo:+.4f}, "
                     f"{hi:+.4f}] p={lift['always_valid_p']:.4f}")  # fmt: skip
    srm = report["srm"]
    lines.append(f"  SRM p={srm['p_value']:.3g}{'  MISMATCH' if srm['mismatch'] else ''}")
    lines.append(f"  → {report['files']['experiment.md']}")
    return "\n".join(lines)
