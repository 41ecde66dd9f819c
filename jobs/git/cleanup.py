"""Cleans up after runs: finished workspaces, leftovers of a crash, least recently used mirrors."""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from jobs.git.mirrors import LAST_USED, MIRROR_SUFFIX, MirrorBusy, repo_lock
from jobs.git.workspace import WorkspaceError

FAILED_MARK = ".failed"  # beside a kept workspace; its mtime is when the run failed
CLAIMS = ".claims"  # beside the workspaces: one flock file per run in progress
CLAIM_WAIT = 30.0
EVICTING = ".evicting"
PARTIAL = ".partial"


class WorkspaceBusy(WorkspaceError):
    """The run is already running on this machine (the queue delivers a job at least once)."""


class WorkspaceClaim:
    """Held by the process that runs the run; a crash frees it, so a sweep tells leftovers from work in progress."""

    def __init__(self, workdir: Path, wait: float = CLAIM_WAIT):
        self.workdir, path = workdir, workdir.parent / CLAIMS / workdir.name
        path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + wait
        while (fd := _lock_file(path)) is None:
            if time.monotonic() >= deadline:
                raise WorkspaceBusy(f"run {workdir.name} is already running on this machine; this copy did nothing")
            time.sleep(0.1)
        self.fd, self.path = fd, path

    def release(self) -> None:
        """Call after finish_workspace; the claim file goes with the workspace, and stays with a kept one."""
        if not self.workdir.exists():
            self.path.unlink(missing_ok=True)
        os.close(self.fd)


def _lock_file(path: Path) -> int | None:
    """flock path without waiting (None when held), on the file that is at path now: a sweep may remove it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass  # removed between our open and our lock: take the new one
        os.close(fd)


def finish_workspace(workdir: Path, failed: bool, keep_failed_seconds: int) -> bool:
    """Remove the run's workspace now, or keep a failed one for debugging until a sweep; True when kept."""
    if failed and keep_failed_seconds > 0 and workdir.is_dir():
        workdir.with_name(workdir.name + FAILED_MARK).touch()
        return True
    remove_tree(workdir)
    return False


def sweep_workspaces(root: Path, keep_failed_seconds: int, active_run_ids: Iterable[str] = (), *,
                     grace_seconds: int = 60, now: float | None = None) -> list[Path]:
    """Remove workspaces no run holds a claim on (a crash's leftovers), and failed ones once kept long enough.

    active_run_ids and grace_seconds are for where flock cannot be trusted (a data dir on NFS)."""
    now = time.time() if now is None else now
    active, removed = set(active_run_ids), []
    _drop_stale_claims(root)
    for entry in sorted(root.iterdir()) if root.is_dir() else ():
        if entry.name == CLAIMS:
            continue
        if entry.name.endswith(FAILED_MARK):
            if not entry.with_name(entry.name.removesuffix(FAILED_MARK)).exists():
                entry.unlink(missing_ok=True)  # its workspace is gone already
            continue
        mark = entry.with_name(entry.name + FAILED_MARK)
        failed = mark.exists()
        since = (mark if failed else entry).lstat().st_mtime
        if entry.name not in active and now - since >= (keep_failed_seconds if failed else grace_seconds):
            if _remove_unclaimed(entry):
                mark.unlink(missing_ok=True)
                removed.append(entry)
    return removed


def _drop_stale_claims(root: Path) -> None:
    """Claim files whose workspace is gone, left by a crash after the workspace was removed."""
    for claim in (root / CLAIMS).iterdir() if (root / CLAIMS).is_dir() else ():
        if not (root / claim.name).exists() and (fd := _lock_file(claim)) is not None:
            claim.unlink(missing_ok=True)
            os.close(fd)


def _remove_unclaimed(workdir: Path) -> bool:
    """Remove workdir unless its run holds the claim; the claim is held while removing, then dropped."""
    claim = workdir.parent / CLAIMS / workdir.name
    fd = _lock_file(claim)
    if fd is None:
        return False
    try:
        remove_tree(workdir)
        claim.unlink(missing_ok=True)
    finally:
        os.close(fd)
    return True


def evict_mirrors(root: Path, max_bytes: int) -> list[str]:
    """Delete least recently used mirrors until the cache fits in max_bytes; a locked mirror is in use and stays."""
    _remove_leftovers(root)
    mirrors = sorted(root.glob("*" + MIRROR_SUFFIX), key=_last_used) if root.is_dir() else []
    sizes = {mirror: tree_bytes(mirror) for mirror in mirrors}
    total, evicted = sum(sizes.values()), []
    for mirror in mirrors:
        if total <= max_bytes:
            break
        name = mirror.name.removesuffix(MIRROR_SUFFIX)
        try:
            with repo_lock(root, name, wait=0):
                trash = mirror.with_name(mirror.name + EVICTING)
                mirror.rename(trash)  # never a half-deleted mirror that looks whole
                remove_tree(trash)
        except MirrorBusy:
            continue
        total -= sizes[mirror]
        evicted.append(name)
    return evicted


def _remove_leftovers(root: Path) -> None:
    """A crash mid-clone or mid-eviction leaves a side directory; remove it once its lock is free."""
    for leftover in [*root.glob("*" + PARTIAL), *root.glob("*" + EVICTING)] if root.is_dir() else []:
        name = leftover.name.removesuffix(PARTIAL).removesuffix(EVICTING).removesuffix(MIRROR_SUFFIX)
        try:
            with repo_lock(root, name, wait=0):
                remove_tree(leftover)
        except MirrorBusy:
            continue


def _last_used(mirror: Path) -> float:
    stamp = mirror / LAST_USED
    return (stamp if stamp.exists() else mirror).stat().st_mtime


def tree_bytes(path: Path) -> int:
    """Disk space a tree takes (allocated blocks, so sparse and tiny files count as they should)."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except FileNotFoundError:
                continue  # removed while we walked: a snapshot being pruned
    return total


def remove_tree(path: Path) -> None:
    """Delete a tree, also where the sandbox left folders without write permission; a missing one is fine."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
        return
    if not path.exists():
        return
    try:
        shutil.rmtree(path)
    except PermissionError:
        _make_writable(path)
        shutil.rmtree(path)


def _make_writable(path: Path) -> None:
    """Give the owner back rwx on every folder (never through a symlink: that could chmod outside the tree)."""
    os.chmod(path, 0o700)
    for folder, subfolders, _ in os.walk(path):
        for name in subfolders:
            full = os.path.join(folder, name)
            if not os.path.islink(full):
                os.chmod(full, 0o700)
