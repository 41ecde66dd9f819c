"""The network fence's cost on a setup that installs packages: `pip install` of 20 packages (a chain of
dependencies) from the test package index, fenced (through the egress proxy, by name) against unfenced (the
host's network, straight to 127.0.0.1), both in the bubblewrap sandbox. Interleaved; medians of `--runs`.

    python bench/fence.py [--runs 5] [--packages 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jobs.run.wiring import make_sandbox  # noqa: E402
from jobs.sandbox.allowlist import Allowlist  # noqa: E402
from jobs.sandbox.fence import FencePolicy  # noqa: E402
from tests.emulators.package_index import PackageIndex, chain_of  # noqa: E402

GOAL = 0.10  # at most 10% slower
INSTALL = ("python3 -m pip install -q --no-cache-dir --disable-pip-version-check --target /tmp/site "
           "--index-url {url}/simple/ --trusted-host {host} pkg01 && test -f /tmp/site/pkg{last:02d}/__init__.py")


def setup_seconds(index: PackageIndex, count: int, fenced: bool) -> float:
    with tempfile.TemporaryDirectory(prefix="codexbot-bench-") as folder:
        policy = FencePolicy(Allowlist(("pypi.test",), {"pypi.test": ("127.0.0.1", index.port)}))
        sandbox = make_sandbox("bwrap", Path(folder), fence=policy if fenced else None)
        url, host = ("http://pypi.test", "pypi.test") if fenced else (index.url, "127.0.0.1")
        try:
            started = time.perf_counter()
            result = sandbox.run(INSTALL.format(url=url, host=host, last=count), network=True, timeout=300)
            elapsed = time.perf_counter() - started
        finally:
            sandbox.close()
    if result.exit_code != 0:
        raise SystemExit(f"the {'fenced' if fenced else 'unfenced'} install failed: {result.output[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--packages", type=int, default=20)
    args = parser.parse_args()
    times: dict[bool, list[float]] = {True: [], False: []}
    with PackageIndex(chain_of(args.packages)) as index:
        setup_seconds(index, args.packages, True)  # warm pip's own imports once, outside the figures
        for _ in range(args.runs):
            for fenced in (False, True):
                times[fenced].append(setup_seconds(index, args.packages, fenced))
    bare, fenced = statistics.median(times[False]), statistics.median(times[True])
    ratio = fenced / bare
    print(f"pip install of {args.packages} packages in setup, medians of {args.runs} runs")
    print(f"{'unfenced (host network)':<28} {bare:7.3f} s")
    print(f"{'fenced (egress proxy)':<28} {fenced:7.3f} s")
    verdict = "within" if ratio - 1 < GOAL else "OVER"
    print(f"ratio fenced/unfenced: {ratio:.3f} ({(ratio - 1) * 100:+.1f}%), {verdict} the {GOAL:.0%} goal")


if __name__ == "__main__":
    main()
