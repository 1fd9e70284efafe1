"""``experiment.md``: the report object as Markdown (tables, verdicts, plots)."""

# ruff: noqa: RUF001  (Greek letters: the formulas' own symbols)

from __future__ import annotations

from typing import Any

from training.experiments.plots import LIFT_PNG, REWARD_PNG


def _f(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _ci(pair: list[Any], digits: int = 4) -> str:
    return f"[{_f(pair[0], digits)}, {_f(pair[1], digits)}]"


def _n(value: Any) -> str:
    return "∞ (no effect observed)" if value is None else f"{int(value):,}"


def render_markdown(report: dict[str, Any]) -> str:
    """The whole report as one Markdown page (``report`` is the jsonable object)."""
    level = f"{1 - report['alpha']:.0%}"
    srm, seq = report["srm"], report["sequential"]
    first, last = report["days"] or ["-", "-"]
    lines = [
        "# Experiment report",
        "",
        f"Decisions from {first} to {last} (UTC), control arm **{report['control']}**, "
        f"α = {report['alpha']}; {report['outside_experiments']:,} decisions outside "
        "experiments left out.",
        "",
    ]
    if srm["mismatch"]:
        lines += [
            f"> **Sample-ratio mismatch** (p = {srm['p_value']:.2e} < {srm['threshold']}): the "
            "split of decisions is not the intended one; do not trust the numbers below until "
            "the assignment is fixed.",
            "",
        ]
    lines += [
        "## Arms",
        "",
        f"| arm | decisions | rewarded | matched outcomes | mean reward ({level} CI) "
        f"| always-valid {level} | escalation rate ({level} CI) |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    for arm, a in report["arms"].items():
        lines.append(
            f"| {arm} | {a['decisions']:,} | {a['rewarded']:,} | {a['matched']:,} "
            f"| {_f(a['mean_reward'])} {_ci(a['mean_reward_ci'])} "
            f"| {_ci(a['mean_reward_always_valid_ci'])} "
            f"| {_f(a['escalation_rate'])} {_ci(a['escalation_rate_ci'])} |"
        )
    lines += ["", "## Lift over control", ""]
    lines += [
        f"| arm | difference ({level} CI) | relative | always-valid {level} CS "
        "| always-valid p | fixed-horizon p | verdict |",
        "|---|---|---|---|---:|---:|---|",
    ]
    for arm, lift in report["lift"].items():
        verdict = "significant" if lift["significant"] else "not (yet) significant"
        lines.append(
            f"| {arm} | {_f(lift['difference'])} {_ci(lift['difference_ci'])} "
            f"| {_f(lift['relative'], 3)} {_ci(lift['relative_ci'], 3)} "
            f"| {_ci(lift['always_valid_ci'])} | {_f(lift['always_valid_p'])} "
            f"| {_f(lift['p_value_fixed_horizon'])} | {verdict} |"
        )
    lines += [
        "",
        "Read the **always-valid** p-value and confidence sequence: they stay valid however "
        f"often the report is looked at (mSPRT, normal mixture prior, τ = {seq['tau']}). "
        "The fixed-horizon ones hold for a single look at a horizon fixed in advance only.",
        "",
        f"![mean reward per arm]({REWARD_PNG})",
        "",
        f"![lift with its confidence sequence]({LIFT_PNG})",
        "",
        "## Sequential analysis by day",
        "",
        "| day | " + " | ".join(f"{a} - {report['control']}" for a in seq["lift"]) + " |",
        f"|---|{'---|' * len(seq['lift'])}",
    ]
    for i, day in enumerate(seq["days"]):
        cells = [
            f"{_f(s['difference'][i])} {_ci([s['lo'][i], s['hi'][i]])} p={_f(s['p_value'][i])}"
            for s in seq["lift"].values()
        ]
        lines.append(f"| {day} | {' | '.join(cells)} |")
    lines += ["", "## Sample-ratio mismatch", ""]
    lines += ["| arm | observed | expected | weight |", "|---|---:|---:|---:|"]
    for arm, obs in srm["observed"].items():
        lines.append(
            f"| {arm} | {obs:,} | {srm['expected'][arm]:,.1f} | {srm['weights'][arm]:.3f} |"
        )
    lines += [
        "",
        f"χ² = {srm['chi2']:.2f} (df {srm['df']}), p = {srm['p_value']:.3g}; flagged below "
        f"{srm['threshold']}: **{'MISMATCH' if srm['mismatch'] else 'ok'}**.",
        "",
        "## Sample size (80 % power to detect the observed difference)",
        "",
        "| arm | observed difference | n per arm now | sequential n | more (sequential) "
        "| fixed-horizon n | MDE now (sequential / fixed) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for arm, s in report["sample_size"].items():
        lines.append(
            f"| {arm} | {_f(s['observed_effect'])} | {s['n_per_arm_now']:,} "
            f"| {_n(s['sequential_n_per_arm'])} | {_n(s['sequential_more_per_arm'])} "
            f"| {_n(s['fixed_horizon_n_per_arm'])} "
            f"| {_f(s['mde_sequential'])} / {_f(s['mde_fixed_horizon'])} |"
        )
    lines += ["", f"Basis: {next(iter(report['sample_size'].values()))['basis']}."]
    if report.get("shadow"):
        lines += ["", "## Shadow / off-policy estimates", ""]
        for version, est in report["shadow"].items():
            if "skipped" in est:
                lines.append(f"* {version}: skipped ({est['skipped']})")
                continue
            parts = [
                f"{k.upper()} {_f(est[k]['estimate'])} {_ci(est[k]['ci'])}"
                for k in ("ips", "snips", "dr")
            ]
            lines.append(f"* {version} on {est['n']:,} logged decisions ({est['source']}): "
                         f"{'; '.join(parts)}; logging {_f(est['logging_value'])}; "
                         f"ESS {est['ess']:.1f}")  # fmt: skip
    return "\n".join(lines) + "\n"
