"""Time to a ready workspace: a cold `git clone` over HTTP against codexbot's mirror cache, cold and warm.

Three generated repositories (small, medium, and one with over 100 MB of history) are served over smart
HTTP by the GitHub emulator. `cp -r` of the working tree alone is the floor. The generated repositories
are cached in --cache between runs.

    python bench/checkout.py [--runs 5] [--cache /tmp/codexbot-bench-repos] [--scratch DIR]
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jobs.git import workspace  # noqa: E402
from jobs.forges.base import GitCredentials  # noqa: E402
from jobs.git.mirrors import Mirrors  # noqa: E402
from tests.emulators.github import GitHubEmulator  # noqa: E402


@dataclass(frozen=True)
class Spec:
    name: str
    files: int
    file_bytes: int
    commits: int
    changes: int  # files rewritten per commit

    @property
    def key(self) -> str:
        return f"{self.name}-{self.files}x{self.file_bytes}-{self.commits}x{self.changes}"


SPECS = (Spec("small", 60, 2_000, 30, 5), Spec("medium", 600, 8_000, 120, 20),
         Spec("large", 2_000, 12_000, 360, 30))


def generate(spec: Spec, cache: Path) -> Path:
    """A bare repository with the spec's history, made once with fast-import and kept in cache."""
    done = cache / f"{spec.key}.git"
    if done.is_dir():
        return done
    partial = cache / f"{spec.key}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(partial)], check=True)
    proc = subprocess.Popen(["git", f"--git-dir={partial}", "fast-import", "--quiet"], stdin=subprocess.PIPE)
    rng = random.Random(spec.key)
    for number in range(spec.commits):
        changed = range(spec.files) if number == 0 else rng.sample(range(spec.files), spec.changes)
        proc.stdin.write(b"commit refs/heads/main\ncommitter Bench <bench@example.com> %d +0000\n"
                         % (1_700_000_000 + number * 60) + _data(b"commit %d" % number))
        for index in changed:
            proc.stdin.write(b"M 100644 inline src/d%02d/file%04d.txt\n" % (index % 40, index)
                             + _data(_text(rng, spec.file_bytes)))
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit(f"git fast-import failed for {spec.name}")
    partial.rename(done)
    return done


def _data(blob: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(blob), blob)


def _text(rng: random.Random, size: int) -> bytes:
    """Random base64 lines: text-like, compresses by about a quarter, and never deltas against older versions."""
    raw = base64.encodebytes(rng.randbytes(size * 3 // 4))
    return raw[:size]


def serve(emu: GitHubEmulator, spec: Spec, source: Path) -> str:
    """Put a hard-linked copy of the cached repository where the emulator serves it (git never rewrites files)."""
    full_name = f"bench/{spec.name}"
    path = Path(emu.repos_root) / f"{full_name}.git"
    shutil.copytree(source, path, copy_function=os.link)
    emu.state.add_repo(full_name, "main", str(path))
    return full_name


def measure(emu: GitHubEmulator, spec: Spec, source: Path, scratch: Path, runs: int) -> dict[str, list[float]]:
    """Seconds per way, rounds interleaved (clone, cold, after a push, warm, floor) so the machine's drift
    hits all alike. Every run writes to a new directory: deleting one is disk work that would land in the next."""
    full_name = serve(emu, spec, source)
    installation = 100 + SPECS.index(spec)
    emu.add_installation(installation, [full_name])
    read = GitCredentials("x-access-token", emu.issue_token(installation, [full_name], {"contents": "read"}))
    url = f"{emu.url}/{full_name}.git"
    work = scratch / spec.name
    tree, warm = work / "tree", Mirrors(work / "warm-mirrors")
    workspace.clone(url, work / "first", read, "main")
    shutil.copytree(work / "first", tree, ignore=shutil.ignore_patterns(".git"))
    warm.checkout(url, spec.name, read, "main", work / "warming")
    ways = {
        "clone": lambda n: workspace.clone(url, work / f"clone{n}", read, "main"),
        "cold": lambda n: Mirrors(work / f"cold-mirrors{n}").checkout(url, spec.name, read, "main", work / f"cold{n}"),
        "pushed": lambda n: warm.checkout(url, spec.name, read, "main", work / f"pushed{n}"),
        "warm": lambda n: warm.checkout(url, spec.name, read, "main", work / f"warm{n}"),
        "floor": lambda n: subprocess.run(["cp", "-r", str(tree), str(work / f"floor{n}")], check=True),
    }
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    for n in range(runs):
        for name, action in ways.items():
            if name == "pushed":  # a new commit upstream: the fetch brings it, and a new snapshot is made
                emu.commit_files(full_name, "main", {f"src/d00/new{n}.txt": "new\n",
                                                     "src/d01/file0001.txt": _text(random.Random(n), spec.file_bytes)})
            os.sync()  # the previous run's writeback must not land in this one's time
            start = time.perf_counter()
            action(n)
            seconds[name].append(time.perf_counter() - start)
    seconds["ratio"] = [w / f for w, f in zip(seconds["warm"], seconds["floor"])]
    seconds["history_mb"], seconds["tree_mb"] = [_size(source) / 1e6], [_size(tree) / 1e6]
    shutil.rmtree(work)
    return seconds


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def report(spec: Spec, seconds: dict[str, list[float]]) -> None:
    r = {name: statistics.median(values) for name, values in seconds.items()}
    ms = {k: f"{r[k] * 1000:7.0f} ms" for k in ("clone", "cold", "warm", "pushed", "floor")}
    print(f"{spec.name:<7} history {r['history_mb']:6.1f} MB  tree {r['tree_mb']:5.1f} MB ({spec.files} files)\n"
          f"        git clone {ms['clone']}   codexbot cold {ms['cold']}   warm {ms['warm']}   "
          f"warm after a push {ms['pushed']}   cp -r floor {ms['floor']}\n"
          f"        warm = {r['ratio']:.1f}x floor (median of rounds), clone = {r['clone'] / r['warm']:.1f}x warm",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "codexbot-bench-repos")
    parser.add_argument("--scratch", type=Path, default=None, help="where workspaces and mirrors go (default: TMPDIR)")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sources = {spec.name: generate(spec, args.cache) for spec in SPECS}
    print(f"repositories ready in {time.perf_counter() - started:.1f} s (cached in {args.cache})", flush=True)
    with GitHubEmulator() as emu, tempfile.TemporaryDirectory(prefix="codexbot-bench-", dir=args.scratch) as scratch:
        for spec in SPECS:
            report(spec, measure(emu, spec, sources[spec.name], Path(scratch), args.runs))
        if emu.errors:
            raise SystemExit("the emulator failed:\n" + "\n".join(emu.errors))
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
