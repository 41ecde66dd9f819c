"""Per-command overhead of the bubblewrap sandbox against a plain subprocess running the same command.

Each command runs `--runs` times (interleaved, so both see the same machine), and the medians are compared.
The plain subprocess uses the sandbox's PATH, so both start the same python3.

    python bench/sandbox.py [--runs 200]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jobs.run.wiring import make_sandbox  # noqa: E402

COMMANDS = ("true", 'python3 -c "print(1)"')
TARGET_MS = 10.0


def plain(command: str, cwd: Path, path: str) -> float:
    started = time.perf_counter()
    subprocess.run(command, shell=True, cwd=cwd, env={"PATH": path}, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def sandboxed(sandbox, command: str) -> float:
    started = time.perf_counter()
    result = sandbox.run(command, timeout=60)
    elapsed = time.perf_counter() - started
    if result.exit_code != 0:
        raise SystemExit(f"`{command}` failed in the sandbox: {result.output}")
    return elapsed


def measure(command: str, runs: int, workspace: Path) -> tuple[float, float, float]:
    """Medians in ms: plain subprocess, subprocess backend, bubblewrap backend."""
    bwrap = make_sandbox("bwrap", workspace)
    os.environ["PATH"] = bwrap.path  # the subprocess backend then starts the same python3 too
    local = make_sandbox("subprocess", workspace)
    times: tuple[list[float], list[float], list[float]] = ([], [], [])
    for _ in range(runs):
        times[0].append(plain(command, workspace, bwrap.path))
        times[1].append(sandboxed(local, command))
        times[2].append(sandboxed(bwrap, command))
    return tuple(statistics.median(series) * 1000 for series in times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the subprocess backend's warning is expected here
    print(f"medians of {args.runs} runs, ms; overhead = bwrap minus plain (and minus the subprocess backend, "
          "which pays the same bash and harness)")
    print(f"{'command':<24} {'plain':>8} {'subprocess':>11} {'bwrap':>8} {'overhead':>9} {'vs backend':>11}")
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="codexbot-bench-") as folder:
        for command in COMMANDS:
            bare, local, bwrap = measure(command, args.runs, Path(folder))
            worst = max(worst, bwrap - bare)
            print(f"{command:<24} {bare:8.2f} {local:11.2f} {bwrap:8.2f} {bwrap - bare:+9.2f} {bwrap - local:+11.2f}")
    verdict = "within" if worst < TARGET_MS else "OVER"
    print(f"bubblewrap overhead: at most {worst:.2f} ms per command, {verdict} the {TARGET_MS:g} ms target")


if __name__ == "__main__":
    main()
