"""``python -m bench --json FILE``: benchmark Decide against its baselines.

Prepares data (simulated customers materialized into a private redis-server, a model
version), then measures every entry with the same load generator on this machine and
writes docs/performance.md and docs/performance.png. Examples::

    python -m bench --json bench.json                      # 20k customers, trains
    python -m bench --json bench.json --models-dir models  # reuse a trained version
    python -m bench --json /tmp/b.json --tiny --doc /tmp/p.md --plot /tmp/p.png
    python -m bench --json /tmp/q.json --quick --doc /tmp/q.md --plot /tmp/q.png

``--quick`` gives the main ratios in a few minutes: a smaller customer set, the
entries those ratios need in three interleaved rounds, no open-loop runs or searches.
``--entries`` picks closed-loop entries by name for any run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.analysis import evaluate
from bench.docs import console_summary, write_markdown
from bench.inprocess import measure_inprocess
from bench.measure import ServerLauncher, measure_all, servers_of
from bench.plot import plot
from bench.prepare import prepare
from bench.presets import measure_config, pick
from bench.procs import ProcessGroup, say
from bench.scenarios import DATALESS


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", required=True, metavar="FILE", help="write all results here")
    p.add_argument("--customers", type=int, default=None, help="simulated customers (20000)")
    p.add_argument("--duration", type=float, default=None, help="measured s per entry (10)")
    p.add_argument("--warmup", type=float, default=None, help="warm-up s per entry (2)")
    p.add_argument(
        "--rounds", type=int, default=None, help="interleave closed-loop entries over N rounds (2)"
    )
    p.add_argument("--concurrency", type=int, default=8, help="closed-loop callers, all entries")
    p.add_argument("--processes", type=int, default=1, help="client processes, closed loop")
    p.add_argument("--open-rate", type=float, default=300.0, help="fixed open-loop rate")
    p.add_argument("--p99-limit-ms", type=float, default=10.0, help="max-rate search limit")
    p.add_argument("--search-steps", type=int, default=None, help="max-rate runs per server (10)")
    p.add_argument("--search-duration", type=float, default=None, help="s per search run (4)")
    p.add_argument("--search-start", type=float, default=200.0, help="first rate tried")
    p.add_argument("--search-processes", type=int, default=1, help="client processes, open loop")
    p.add_argument("--models-dir", type=Path, default=None, help="reuse this trained version")
    p.add_argument("--tiny", action="store_true", help="small and short (tests)")
    p.add_argument("--quick", action="store_true", help="the main ratios in a few minutes")
    p.add_argument(
        "--no-open-loop",
        dest="open_loop",
        action="store_false",
        help="skip the fixed-rate open-loop runs and the max-rate searches",
    )
    p.add_argument(
        "--no-inprocess",
        dest="inprocess",
        action="store_false",
        help="skip the in-process stage timings",
    )
    p.add_argument(
        "--entries",
        type=lambda text: tuple(n for n in text.split(",") if n),
        default=None,
        metavar="A,B",
        help="closed-loop entries to run (default: all; --quick: its own set)",
    )
    p.add_argument(
        "--profile",
        type=float,
        default=0.0,
        metavar="S",
        help="py-spy the decide server for S seconds (extra, unmeasured run)",
    )
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="environment for the decide server, e.g. PERSONALIZATION_GC_TUNING=false",
    )
    p.add_argument("--doc", type=Path, default=Path("docs/performance.md"))
    p.add_argument("--plot", type=Path, default=Path("docs/performance.png"))
    p.add_argument("--workdir", type=Path, default=None, help="keep data and logs here")
    return p


def server_env(pairs: list[str]) -> dict[str, str]:
    """``NAME=VALUE`` flags as a dict (rejects anything else)."""
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"--server-env wants NAME=VALUE, got {pair!r}")
        env[name] = value
    return env


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("grpcio", "protobuf", "feast", "onnxruntime", "redis"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def machine_info(argv: list[str]) -> dict[str, Any]:
    """nproc, CPU model, versions, load average and the exact command."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "command": shlex.join(["python", "-m", "bench", *argv]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        **_versions(),
        "loadavg_1m_at_start": round(load[0], 2),
    }


def run(args: argparse.Namespace, argv: list[str], workdir: Path) -> dict[str, Any]:
    """Prepare, measure, analyse; returns the full result."""
    customers = pick(args.customers, "customers", args.tiny, 20_000, args.quick)
    cfg = measure_config(args, workdir)
    meta = machine_info(argv)
    started = time.monotonic()
    with ProcessGroup(workdir / "logs") as group:
        launcher = ServerLauncher(group, server_env(args.server_env))
        servers = servers_of(cfg)
        launcher.launch(tuple(s for s in servers if s in DATALESS), None)  # during prepare
        data = prepare(group, workdir, customers, args.models_dir, args.tiny)
        launcher.launch(tuple(s for s in servers if s not in DATALESS), data)
        results = measure_all(group, data, cfg, launcher.running)
        if args.inprocess:
            say("in-process: a lone decision and a batch of 100, stage by stage")
            calls, rounds = (100, 2) if args.tiny else (1000, 5)
            results["inprocess"] = measure_inprocess(
                data, workdir / "inprocess-log", calls=calls, rounds=rounds
            )
    results["config"] = {
        "customers": customers,
        "redis_keys": data.redis_keys,
        "concurrency": cfg.concurrency,
        "processes": cfg.processes,
        "duration_s": cfg.duration_s,
        "warmup_s": cfg.warmup_s,
        "rounds": cfg.rounds,
        "decide_env": server_env(args.server_env),
        "open_rate": cfg.open_rate,
        "p99_limit_us": cfg.search.p99_limit_us,
        "unknown_share": cfg.unknown_share,
        "tiny": args.tiny,
        "quick": args.quick,
        "entries": list(cfg.entries),
    }
    meta["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    meta["bench_seconds"] = round(time.monotonic() - started, 1)
    results["machine"], results["prepare_s"] = meta, data.timings_s
    results["targets"] = evaluate(results)
    return results


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Run the bench; children are stopped even on error or Ctrl-C/SIGTERM."""
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            workdir = (args.workdir or Path(tmp)).resolve()
            results = run(args, argv, workdir)
    finally:
        signal.signal(signal.SIGTERM, previous)
    Path(args.json).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    title = f"{results['machine']['cpu']}, {results['machine']['nproc']} cores"
    plot(results, args.plot, f"python -m bench: {title}")
    write_markdown(results, args.doc, os.path.relpath(args.plot, args.doc.parent))
    print(console_summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
