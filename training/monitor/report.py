"""``monitor.md``: the monitoring pass as Markdown, next to its PNG charts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from training.monitor.analyze import Monitored
from training.monitor.plots import PSI_HEATMAP, chart_file
from training.monitor.psi import DRIFT, WATCH

REPORT = "monitor.md"


def _psi_table(result: Monitored, top: int) -> str:
    worst = sorted(result.psi, key=lambda n: -max(result.psi[n], default=0.0))[:top]
    head = "| input / score | " + " | ".join(str(w["index"]) for w in result.windows) + " |"
    rule = "|---|" + "---|" * len(result.windows)
    rows = [f"| {n} | " + " | ".join(f"{v:.3f}" for v in result.psi[n]) + " |" for n in worst]
    return "\n".join([head, rule, *rows])


def _alarm_rows(alarms: list[dict[str, Any]]) -> str:
    if not alarms:
        return "No alarms."
    rows = [
        f"| {a['window']} | {a['kind']} | {a['name']} | {a['value']} | {a['limit']} |"
        for a in alarms
    ]
    return "\n".join(["| window | kind | name | value | limit |", "|---|---|---|---|---|", *rows])


def write_report(out: Path, result: Monitored, header: dict[str, Any], top: int = 15) -> Path:
    """Write ``out/monitor.md`` (the PNGs must already be in ``out``)."""
    windows = "\n".join(
        f"| {w['index']} | {w['start']} | {w['decisions']} | {w['outcomes']} |"
        for w in result.windows
    )
    charts = "\n".join(f"![{c.name}]({chart_file(c.name)})" for c in result.charts)
    facts = "\n".join(f"- {k}: `{v}`" for k, v in header.items())
    text = f"""# Monitoring report

{facts}

PSI above {DRIFT} is drift (an alarm), {WATCH}-{DRIFT} is *watch*; p-charts flag a window
outside center ± 3·sqrt(p(1-p)/n). See docs/monitoring.md.

## Windows
| window | start | decisions | outcomes |
|---|---|---|---|
{windows}

## Alarms ({len(result.alarms)})
{_alarm_rows(result.alarms)}

Watch (PSI {WATCH}-{DRIFT}): {len(result.watch)} window x input pairs.

## PSI (the {top} highest inputs and scores)
{_psi_table(result, top)}

![PSI heatmap]({PSI_HEATMAP})

## Control charts
{charts}
"""
    path = out / REPORT
    path.write_text(text)
    return path
