"""``python -m training monitor``: drift (PSI) and outcome control charts over the logs.

Reads ``<log-dir>/decisions`` and ``<log-dir>/outcomes``, compares each window against
the serving version's training distributions (``models/current``, or ``--version``) and
writes PNG charts and ``monitor.md`` into ``--out``; ``--json`` prints the summary
(``{"windows", "psi", "charts", "alarms", "watch"}``). See docs/monitoring.md.

Exit status: 0 done (alarms or not); 2 bad arguments or unusable logs/version.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from modelio.logrecords import DECISIONS, OUTCOMES, read_log
from modelio.manifest import ManifestError, current_version_dir, load_manifest
from training.monitor.analyze import REFERENCES, MonitorError, analyze
from training.monitor.plots import write_plots
from training.monitor.report import write_report
from training.monitor.windows import parse_window

EXIT_USAGE = 2


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-dir", type=Path, default=Path("logs"))
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument(
        "--version", default=None, help="version to compare with (default: current)"
    )
    parser.add_argument("--window", default="1d", help="1h, 30m, 1d ... or N decisions per window")
    parser.add_argument(
        "--baseline-windows",
        type=int,
        default=3,
        help="K first windows as baseline; 0: training rates",
    )
    parser.add_argument("--reference", choices=REFERENCES, default="training", help="PSI against")
    parser.add_argument(
        "--include-calendar", action="store_true", help="alarm on hour/weekday inputs too"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("monitoring"), help="folder for PNGs + monitor.md"
    )
    parser.add_argument("--json", action="store_true", help="print the JSON summary")


def _fail(message: str) -> int:
    print(f"monitor: {message}", file=sys.stderr)
    return EXIT_USAGE


def run(args: argparse.Namespace) -> int:
    if not (args.log_dir / DECISIONS).is_dir():
        return _fail(f"no decision log under {args.log_dir} (--log-dir)")
    try:
        spec = parse_window(args.window)
        if args.baseline_windows < 0:
            raise ValueError("--baseline-windows must be >= 0")
        version_dir = (
            args.models_dir / args.version if args.version else current_version_dir(args.models_dir)
        )
        manifest = load_manifest(version_dir, verify=False)
        result = analyze(
            read_log(args.log_dir, DECISIONS),
            read_log(args.log_dir, OUTCOMES),
            manifest,
            spec,
            baseline_windows=args.baseline_windows,
            reference=args.reference,
            include_calendar=args.include_calendar,
        )
    except (ValueError, ManifestError, MonitorError) as exc:
        return _fail(str(exc))
    args.out.mkdir(parents=True, exist_ok=True)
    write_plots(args.out, result)
    header = {
        "version": manifest.version,
        "log dir": str(args.log_dir),
        "window": spec.describe(),
        "baseline windows": args.baseline_windows,
        "PSI reference": args.reference,
    }
    report = write_report(args.out, result, header)
    summary = {**result.summary(), "version": manifest.version, "report": str(report)}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"monitor: {len(result.windows)} windows, {len(result.alarms)} alarms → {report}")
        for a in result.alarms:
            print(f"  {a['window']} {a['kind']:<8} {a['name']} {a['value']} (limit {a['limit']})")
    return 0
