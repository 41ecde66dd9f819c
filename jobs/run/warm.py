"""Warm environments: what setup left in the workspace (a virtualenv, node_modules, built files) and in the
sandbox's home (pip's and npm's caches, `pip --user`, Go's module cache), kept under its key and put onto the
next checkout with the same key instead of running setup again. Least recently used environments go first
past the byte budget.

Under root, one folder per key: `meta.json`, `tree/` (`workspace/` and `home/`, copied out as
jobs/run/warm_files.py says: no link followed, no hard link, FIFO, device or set-id bit kept) and `spares/`,
ready copies of the tree made in the background after each use. A restore takes a spare by renaming it (so
no two runs get the same one) and moves its entries into place by renames: it costs a few system calls, not
one per file. Without a spare (two runs at once) the tree is copied first. Nothing a sandbox ever saw is
kept: a tree is only read, and each spare is a fresh copy of it. Whatever is half made (`*.partial`) or half
taken is never used, and is swept when it is old."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from jobs.git.workspace import git
from jobs.repo.testing import TestResult
from jobs.run.warm_files import copy_out, files_under, place, take_back

MAX_ENVIRONMENT_SHARE = 0.5  # one environment may take at most half the budget
FILE_OVERHEAD = 512  # bytes each kept file counts beyond its size (its inode and folder entry, roughly)
MAX_BASELINES = 2000  # tests' results on base commits, least recently used dropped beyond
SPARES = 1  # ready copies per environment; a second run at the same time copies the tree itself
COPY_SECONDS = 1800  # one copy of a tree (cp -a) is stopped after this long
STALE_SECONDS = 3 * 3600  # a `.partial` or a taken spare this old belongs to a process that died
META, TREE = "meta.json", "tree"


@dataclass(frozen=True)
class Environments:
    root: Path
    max_bytes: int  # 0: none kept

    def restore(self, key: str, workdir: Path, home: Path | None = None) -> float | None:
        """Put the environment onto workdir (and its home part into home); the seconds its setup took, or None
        when there is none. Nothing takes a tracked path's place; a restore that fails leaves nothing behind."""
        folder = self.root / key
        if self.max_bytes <= 0:
            return None
        try:
            seconds = float(json.loads((folder / META).read_text())["setup_seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        taken = self._take_spare(folder)
        if taken is None:
            return None
        placed: list[Path] = []
        try:
            tracked = {p for p in git(workdir, "ls-files", "-z").stdout.split("\0") if p}
            placed += place(taken / "workspace", workdir, tracked)
            if home is not None and (taken / "home").is_dir():
                placed += place(taken / "home", home, set())
        except OSError:
            take_back(placed)
            return None
        finally:
            shutil.rmtree(taken, ignore_errors=True)  # what was not placed (normally empty folders)
        try:
            os.utime(folder)  # recently used
        except OSError:
            return seconds  # removed meanwhile (evicted, or kept again by a --fresh run)
        self.replenish(key)
        return seconds

    def save(self, key: str, workdir: Path, seconds: float, log: Callable[[str], None], home: Path | None = None
             ) -> None:
        """Keep what setup made that the repository ignores (a virtualenv, node_modules, build output): never
        a file that could be, or replace, the repository's own; and what it left in the home. Not when setup
        changed tracked files, or when it is too big."""
        if self.max_bytes <= 0:
            return
        if git(workdir, "status", "--porcelain", "--untracked-files=no").stdout.strip():
            log("setup changed files the repository tracks: its environment is not kept")
            return
        listed = git(workdir, "ls-files", "--others", "--ignored", "--exclude-standard", "-z").stdout
        partial = self.root / f"{key}.{os.getpid()}.{time.time_ns()}.partial"
        try:
            files, size = copy_out(workdir, [p for p in listed.split("\0") if p], partial / TREE / "workspace")
            (partial / TREE / "home").mkdir(parents=True, exist_ok=True)
            if home is not None:
                more, more_size = copy_out(home, files_under(home), partial / TREE / "home")
                files, size = files + more, size + more_size
            size += files * FILE_OVERHEAD
            if size > self.max_bytes * MAX_ENVIRONMENT_SHARE:
                log(f"setup made {size / 1e6:.0f} MB, more than half of CODEXBOT_ENV_CACHE_BYTES: not kept")
                return
            (partial / "spares").mkdir()
            (partial / META).write_text(json.dumps({"setup_seconds": round(seconds, 3), "files": files,
                                                    "bytes": size, "saved_at": time.time()}))
            self._put(partial, self.root / key)
        finally:
            shutil.rmtree(partial, ignore_errors=True)  # only when it was not put in place
        log(f"environment kept (key {key[:12]}…, {files} files, {size / 1e6:.1f} MB)")
        self.replenish(key)
        self.evict()

    def replenish(self, key: str) -> None:
        """Start making a spare copy of the tree in the background when fewer than SPARES are there or on the
        way. It is made under a `.partial` name (taken here, so it counts at once) and renamed when complete."""
        spares = self.root / key / "spares"
        name = f"{os.getpid()}-{time.time_ns()}"
        try:
            if len(os.listdir(spares)) >= SPARES:
                return
            os.mkdir(spares / f"{name}.partial")
        except OSError:
            return
        script = 'timeout "$4" cp -a -- "$1/." "$2" && mv -T -- "$2" "$3" || rm -rf -- "$2"'
        argv = ["nice", "-n", "10", "sh", "-c", script, "sh", str(self.root / key / TREE),
                str(spares / f"{name}.partial"), str(spares / name), str(COPY_SECONDS)]
        _start_detached(argv)

    def baseline(self, key: str) -> TestResult | None:
        """The tests' result kept for this base, or None."""
        path = self.root / "baselines" / f"{key}.json"
        try:
            result = TestResult(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None
        os.utime(path)
        return result

    def keep_baseline(self, key: str, tests: TestResult) -> None:
        if self.max_bytes <= 0:
            return
        folder = self.root / "baselines"
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f"{key}.{os.getpid()}.partial"
        partial.write_text(json.dumps(tests.to_dict()))
        partial.replace(folder / f"{key}.json")
        for old in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)[:-MAX_BASELINES]:
            old.unlink(missing_ok=True)

    def evict(self) -> None:
        """Remove the least recently used environments until the rest (spares included) fit the budget, and
        whatever a process that died left half made."""
        kept = []
        for folder in self.root.iterdir() if self.root.is_dir() else ():
            if folder.name.endswith(".partial") or folder.name.endswith(".taken"):
                _remove_if_stale(folder)
            elif folder.suffix in (".tar", ".json") and folder.is_file():
                folder.unlink(missing_ok=True)  # an archive (and its record) of the release before spares
            elif (folder / META).is_file():
                kept.append(folder)
        total = 0
        for folder in sorted(kept, key=_mtime, reverse=True):
            for spare in _entries(folder / "spares"):
                _remove_if_stale(spare)
            try:
                size = int(json.loads((folder / META).read_text())["bytes"])
            except (OSError, ValueError, KeyError, TypeError):
                size = self.max_bytes + 1  # unreadable: the first to go
            total += size * (1 + SPARES)  # the tree and its spares, made or on the way
            if total > self.max_bytes:
                _remove(folder)

    def _take_spare(self, folder: Path) -> Path | None:
        """A copy of the tree that is this run's alone: a spare renamed away, else a copy made now."""
        for spare in _entries(folder / "spares"):
            if spare.name.endswith(".partial"):
                continue
            taken = folder.with_name(f"{folder.name}.{os.getpid()}.{time.time_ns()}.taken")
            try:
                os.rename(spare, taken)
                return taken
            except FileNotFoundError:
                continue  # another run took it first
        taken = folder.with_name(f"{folder.name}.{os.getpid()}.{time.time_ns()}.taken")
        try:
            proc = subprocess.run(["cp", "-a", "--", str(folder / TREE), str(taken)], stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=COPY_SECONDS)
        except subprocess.TimeoutExpired:
            proc = None
        if proc is None or proc.returncode != 0:
            shutil.rmtree(taken, ignore_errors=True)
            return None
        return taken

    def _put(self, partial: Path, folder: Path) -> None:
        """partial becomes the environment of its key; one kept before under that key goes."""
        if folder.exists():
            _remove(folder)
        try:
            os.rename(partial, folder)
        except OSError:  # another run kept this key at the same moment: theirs is as good
            pass


def _start_detached(argv: list[str]) -> None:
    """Start argv in a session of its own (it outlives the job's process, which may end first) with
    posix_spawn: a fork of the worker's process costs far more. A thread reaps it while this process lives."""
    null = os.devnull
    actions = [(os.POSIX_SPAWN_OPEN, fd, null, os.O_RDWR, 0) for fd in (0, 1, 2)]
    pid = os.posix_spawnp(argv[0], argv, {"PATH": os.environ.get("PATH", os.defpath)}, file_actions=actions,
                          setsid=True)
    threading.Thread(target=os.waitpid, args=(pid, 0), daemon=True, name="codexbot-spare-copy").start()


def _entries(folder: Path) -> list[Path]:
    try:
        return [folder / name for name in os.listdir(folder)]
    except OSError:
        return []


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _remove(folder: Path) -> None:
    """Out of sight first (a rename), so no run takes a spare of an environment being removed."""
    gone = folder.with_name(f"{folder.name}.{os.getpid()}.{time.time_ns()}.partial")
    try:
        os.rename(folder, gone)
    except OSError:
        return
    shutil.rmtree(gone, ignore_errors=True)


def _remove_if_stale(path: Path) -> None:
    """Remove a `.partial` or a taken spare older than STALE_SECONDS."""
    if path.name.endswith((".partial", ".taken")) and time.time() - _mtime(path) > STALE_SECONDS:
        shutil.rmtree(path, ignore_errors=True)
