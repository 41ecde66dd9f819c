"""Warm environments: what setup left in the workspace (a virtualenv, node_modules, built files), kept under
its key and put onto the next checkout with the same key instead of running setup again. Least recently
used environments go first past the byte budget. Archives are written from files setup made and read back
with tarfile's "tar" filter (no absolute names, nothing outside the workspace, no set-id bits) and without
hard links or devices. Symbolic links stay links (a virtualenv's python points at /usr/bin/python3): they
are resolved in the sandbox, and the worker never reads through one."""

from __future__ import annotations

import json
import os
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from jobs.git.workspace import git
from jobs.repo.testing import TestResult

MAX_ENVIRONMENT_SHARE = 0.5  # one environment may take at most half the budget
TAR_HEADER = 512
MAX_BASELINES = 2000  # tests' results on base commits, least recently used dropped beyond


@dataclass(frozen=True)
class Environments:
    root: Path
    max_bytes: int  # 0: none kept

    def restore(self, key: str, workdir: Path) -> float | None:
        """Put the environment onto workdir; the seconds its setup took, or None when there is none."""
        archive, meta = self._paths(key)
        if self.max_bytes <= 0 or not archive.is_file():
            return None
        try:
            seconds = float(json.loads(meta.read_text())["setup_seconds"])
            tracked = set(git(workdir, "ls-files", "-z").stdout.split("\0"))
            with tarfile.open(archive) as tar:  # nothing in it may stand in for a file the checkout tracks
                tar.extractall(workdir, members=[m for m in tar if _outside(m.name, tracked)], filter=_member)
        except (OSError, ValueError, KeyError, tarfile.TarError):
            archive.unlink(missing_ok=True)  # a broken archive is set up again, and replaced
            return None
        os.utime(archive)  # recently used
        return seconds

    def save(self, key: str, workdir: Path, seconds: float, log: Callable[[str], None]) -> None:
        """Keep what setup made that the repository ignores (a virtualenv, node_modules, build output): never
        a file that could be, or replace, the repository's own. Not when setup changed tracked files, or when
        it is too big (each file counts its archive header too)."""
        if self.max_bytes <= 0:
            return
        if git(workdir, "status", "--porcelain", "--untracked-files=no").stdout.strip():
            log("setup changed files the repository tracks: its environment is not kept")
            return
        listed = git(workdir, "ls-files", "--others", "--ignored", "--exclude-standard", "-z").stdout
        made = [p for p in listed.split("\0") if p]
        size = sum(_size(workdir / p) + TAR_HEADER for p in made)
        if size > self.max_bytes * MAX_ENVIRONMENT_SHARE:
            log(f"setup made {size / 1e6:.0f} MB, more than half of CODEXBOT_ENV_CACHE_BYTES: not kept")
            return
        archive, meta = self._paths(key)
        archive.parent.mkdir(parents=True, exist_ok=True)
        partial = archive.with_suffix(f".{os.getpid()}.partial")
        with tarfile.open(partial, "w") as tar:
            for path in made:
                tar.add(workdir / path, arcname=path, recursive=False)
        meta.write_text(json.dumps({"setup_seconds": round(seconds, 3), "files": len(made), "bytes": size,
                                    "saved_at": time.time()}))
        partial.replace(archive)
        log(f"environment kept (key {key[:12]}…, {len(made)} files, {size / 1e6:.1f} MB)")
        self.evict()

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
        """Remove the least recently used environments until the rest fit the budget."""
        archives = sorted(self.root.glob("*.tar"), key=lambda p: p.stat().st_mtime, reverse=True)
        total = 0
        for archive in archives:
            total += archive.stat().st_size
            if total > self.max_bytes:
                archive.unlink(missing_ok=True)
                archive.with_suffix(".json").unlink(missing_ok=True)

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.root / f"{key}.tar", self.root / f"{key}.json"


def _size(path: Path) -> int:
    try:
        return path.lstat().st_size
    except OSError:
        return 0


def _member(member: tarfile.TarInfo, destination: str) -> tarfile.TarInfo | None:
    """tarfile's "tar" filter, and no hard links (one to a host file would let the sandbox write it) or devices."""
    member = tarfile.tar_filter(member, destination)
    if member.islnk() or member.isdev():
        return None
    return member


def _outside(name: str, tracked: set[str]) -> bool:
    """The member is no tracked file and lies under none (a tracked path is a file, never a folder to fill)."""
    parts = name.strip("/").split("/")
    return not any("/".join(parts[:i]) in tracked for i in range(1, len(parts) + 1))
