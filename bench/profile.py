"""Where a running server spends its time: py-spy samples summarized per function.

Optional: ``py-spy`` comes with the ``dev`` extra (or ``pip install py-spy``). The
bench samples the decide server during an extra, unmeasured closed-loop run, so the
sampling never touches the reported latencies. Only the thread holding the GIL is
sampled (``--gil``): one server process runs Python on one core at a time, so the GIL
holder's stack is where its throughput goes; time spent waiting on Redis or in
onnxruntime with the GIL released does not show.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]*)(?::\d+)?\)$")
#: Thread plumbing present in every stack: left out of the inclusive ranking.
_PLUMBING = ("(threading.py)", "(thread.py)", "(_base.py)")


def executable() -> str | None:
    """``py-spy`` next to this Python (a venv need not be on PATH), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.is_file() else shutil.which("py-spy")


def available() -> bool:
    """True when a ``py-spy`` executable can be found."""
    return executable() is not None


def start_record(pid: int, duration_s: float, out: Path) -> subprocess.Popen[bytes]:
    """Start ``py-spy record`` of ``pid`` for ``duration_s`` into collapsed-stack ``out``."""
    cmd = [
        executable() or "py-spy",
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(duration_s))),
        "--rate",
        "200",
        "--format",
        "raw",
        "--nonblocking",
        "--gil",  # only the thread holding the GIL: where the Python CPU goes
        "--output",
        str(out),
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _short(frame: str) -> str:
    """``func (path/to/module.py:12)`` -> ``func (module.py)``."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    return f"{match['func']} ({Path(match['file']).name})"


def summarize(collapsed: str, top: int = 12) -> dict[str, Any]:
    """Top functions by self and by inclusive share of the samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";")]
        total += n
        own[frames[-1]] += n
        for func in set(frames):
            if not func.endswith(_PLUMBING):
                inclusive[func] += n

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(f, c / total) for f, c in counter.most_common(top)] if total else []

    return {"samples": total, "self": share(own), "inclusive": share(inclusive)}


def finish(proc: subprocess.Popen[bytes], out: Path, duration_s: float) -> dict[str, Any] | None:
    """Wait for py-spy and summarize; None if it produced nothing."""
    try:
        proc.wait(timeout=duration_s + 30)
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.wait(timeout=5)
    if not out.is_file():
        return None
    summary = summarize(out.read_text(errors="replace"))
    summary["duration_s"] = duration_s
    return summary if summary["samples"] else None
