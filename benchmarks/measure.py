"""Wall time and peak RSS of one command, each run in a fresh process (shared by the benchmark scripts)."""

from __future__ import annotations

import subprocess
import sys

#: a small wrapper process starts the command and reports the command's own wall time (its start to its
#: exit, not the wrapper's interpreter start) and its peak RSS (RUSAGE_CHILDREN: the largest child's)
WRAP = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); r = subprocess.run(sys.argv[1:]); "
    "w = time.perf_counter() - t; "
    "sys.stderr.write('WALL_S=%.4f PEAK_RSS_KB=%d\\n' % (w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
    "sys.exit(r.returncode)"
)


def measured(cmd: list[str], ok: tuple[int, ...] = (0, 1)) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of ``cmd``; exits with its stderr when its code is not in ``ok``."""
    out = subprocess.run([sys.executable, "-c", WRAP, *cmd], capture_output=True, text=True)
    if out.returncode not in ok:
        raise SystemExit(f"{cmd[:3]} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    tail = out.stderr.rsplit("WALL_S=", 1)[1].split()
    return float(tail[0]), int(tail[1].removeprefix("PEAK_RSS_KB=")) / 1024.0, out.stdout
