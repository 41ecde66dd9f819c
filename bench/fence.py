"""The network fence's cost on a setup that installs packages: `pip install` of 20 packages (a chain of
dependencies) from the test package index, fenced (through the egress proxy, by name) against unfenced (the
host's network, straight to 127.0.0.1), both in the bubblewrap sandbox. Over HTTPS, as real registries are
(one CONNECT tunnel per host, TLS inside, the index's self-signed certificate trusted with --cert), and over
plain HTTP (each request a new connection through the fence). Interleaved; medians of `--runs`.

    python bench/fence.py [--runs 5] [--packages 20]
"""

from __future__ import annotations

import argparse
import shutil
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
from tests.emulators.tls import self_signed  # noqa: E402

GOAL = 0.10  # at most 10% slower
INSTALL = ("python3 -m pip install -q --no-cache-dir --disable-pip-version-check --target /tmp/site "
           "--index-url {url}/simple/ {trust} pkg01 && test -f /tmp/site/pkg{last:02d}/__init__.py")


def setup_seconds(index: PackageIndex, count: int, fenced: bool, cert: Path | None) -> float:
    with tempfile.TemporaryDirectory(prefix="codexbot-bench-") as folder:
        policy = FencePolicy(Allowlist(("pypi.test",), {"pypi.test": ("127.0.0.1", index.port)}))
        sandbox = make_sandbox("bwrap", Path(folder), fence=policy if fenced else None)
        scheme = "https" if cert else "http"
        url = f"{scheme}://pypi.test" if fenced else index.url
        if cert:
            shutil.copy(cert, Path(folder) / "ca.pem")
        trust = "--cert /workspace/ca.pem" if cert else f"--trusted-host {'pypi.test' if fenced else '127.0.0.1'}"
        try:
            started = time.perf_counter()
            result = sandbox.run(INSTALL.format(url=url, trust=trust, last=count), network=True, timeout=300)
            elapsed = time.perf_counter() - started
        finally:
            sandbox.close()
    if result.exit_code != 0:
        raise SystemExit(f"the {'fenced' if fenced else 'unfenced'} install failed: {result.output[-2000:]}")
    return elapsed


def measure(index: PackageIndex, count: int, runs: int, cert: Path | None) -> tuple[float, float]:
    setup_seconds(index, count, True, cert)  # warm pip's own imports once, outside the figures
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(runs):
        for fenced in (False, True):
            times[fenced].append(setup_seconds(index, count, fenced, cert))
    return statistics.median(times[False]), statistics.median(times[True])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--packages", type=int, default=20)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="codexbot-bench-tls-"))
    cert, context = self_signed(folder, ("pypi.test",))
    results = {}
    with PackageIndex(chain_of(args.packages), ssl_context=context) as index:
        results["https"] = measure(index, args.packages, args.runs, cert)
    with PackageIndex(chain_of(args.packages)) as index:
        results["http"] = measure(index, args.packages, args.runs, None)
    print(f"pip install of {args.packages} packages in setup, medians of {args.runs} runs")
    print(f"{'index':<7} {'unfenced':>9} {'fenced':>9} {'ratio':>7}")
    for scheme, (bare, fenced) in results.items():
        print(f"{scheme:<7} {bare:8.3f}s {fenced:8.3f}s {fenced / bare:7.3f}")
    bare, fenced = results["https"]
    verdict = "within" if fenced / bare - 1 < GOAL else "OVER"
    print(f"fenced/unfenced over HTTPS, as real registries: {fenced / bare:.3f} ({(fenced / bare - 1) * 100:+.1f}%), "
          f"{verdict} the {GOAL:.0%} goal")


if __name__ == "__main__":
    main()
