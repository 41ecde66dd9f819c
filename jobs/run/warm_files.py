"""The file work of warm environments: copying what setup made out of a workspace (or a sandbox's home) into
the store, and moving a ready copy into the next workspace by renames.

Copying out, every path is opened step by step from the root with O_NOFOLLOW, so a link planted in place of
a folder never leads the root worker outside; only regular files, folders and symbolic links are kept
(links stay links: a virtualenv's python points at /usr/bin/python3, and it is resolved in the sandbox);
a hard link is copied as a file of its own; set-id and sticky bits are dropped. Moving in, nothing takes
the place of a path the checkout tracks or of anything already there, and no link is followed."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
KEPT_MODE = 0o777  # no set-id or sticky bits


def copy_out(root: Path, relatives: Iterable[str], dest: Path) -> tuple[int, int]:
    """Copy root/<relative> for each relative path into dest/<relative>; (files kept, bytes kept). What is
    gone, is not a file or a link, or lies behind a link is left out."""
    files = size = 0
    dest.mkdir(parents=True, exist_ok=True)
    as_root = os.geteuid() == 0
    with _directories(root) as open_dir:
        for relative in relatives:
            path = PurePosixPath(relative)
            if path.is_absolute() or ".." in path.parts or not path.parts:
                continue
            parent = open_dir(path.parent)
            if parent is None:
                continue
            target = dest / relative
            kept = _copy_entry(parent, path.name, target, as_root)
            if kept is not None:
                files, size = files + 1, size + kept
    return files, size


def files_under(root: Path) -> list[str]:
    """Every file and link under root (relative), without following a link into a folder."""
    found = []
    for folder, dirnames, filenames, fd in os.fwalk(root, follow_symlinks=False):
        relative = os.path.relpath(folder, root)
        for name in [*filenames, *(d for d in dirnames if stat.S_ISLNK(os.lstat(d, dir_fd=fd).st_mode))]:
            found.append(name if relative == "." else f"{relative}/{name}")
    return found


def place(source: Path, dest: Path, tracked: set[str]) -> list[Path]:
    """Move each entry of source into dest by renaming it (a whole folder at once when dest has nothing of
    that name and the checkout tracks nothing under it); entries that would take a tracked path, or the place
    of something already in dest, stay in source. The paths placed, to take back if a later step fails."""
    prefixes = {str(p) for t in tracked for p in PurePosixPath(t).parents if str(p) != "."}
    placed: list[Path] = []
    pending = [""]
    while pending:
        relative = pending.pop()
        for entry in os.scandir(source / relative):
            name = f"{relative}/{entry.name}" if relative else entry.name
            target = dest / name
            if name in tracked:
                continue
            try:
                there = os.lstat(target)
            except FileNotFoundError:
                there = None
            if entry.is_dir(follow_symlinks=False) and (name in prefixes or there is not None):
                if there is None:
                    os.mkdir(target, 0o755)
                    placed.append(target)
                if there is None or stat.S_ISDIR(there.st_mode):  # lstat: never into a link
                    pending.append(name)
                continue
            if there is None:
                os.rename(entry.path, target)
                placed.append(target)
    return placed


def take_back(placed: list[Path]) -> None:
    """Remove what place() moved in (a restore that failed half way leaves nothing behind)."""
    for path in reversed(placed):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


@contextmanager
def _directories(root: Path) -> Iterator:
    """open_dir(relative) → a descriptor of root/relative opened without following links, or None; cached."""
    fds: dict[PurePosixPath, int | None] = {}

    def open_dir(relative: PurePosixPath) -> int | None:
        if relative in fds:
            return fds[relative]
        if relative == PurePosixPath("."):
            fd = os.open(root, _DIR)
        else:
            parent = open_dir(relative.parent)
            try:
                fd = None if parent is None else os.open(relative.name, _DIR, dir_fd=parent)
            except OSError:  # gone, a link, or not a folder
                fd = None
        fds[relative] = fd
        return fd

    try:
        yield open_dir
    finally:
        for fd in fds.values():
            if fd is not None:
                os.close(fd)


def _copy_entry(parent: int, name: str, target: Path, as_root: bool) -> int | None:
    """Copy one file or link; its size, or None when it is something else or gone."""
    try:
        info = os.lstat(name, dir_fd=parent)
    except OSError:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    if stat.S_ISLNK(info.st_mode):
        os.symlink(os.readlink(name, dir_fd=parent), target)
    elif stat.S_ISREG(info.st_mode):
        try:
            fd = os.open(name, _FILE, dir_fd=parent)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as source:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped since the lstat
                return None
            with open(target, "xb") as copy:
                shutil.copyfileobj(source, copy, 1 << 20)
        os.chmod(target, info.st_mode & KEPT_MODE)
        os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
    else:
        return None  # a FIFO, a socket or a device is never kept
    if as_root:  # keep the sandbox's owner, so the workspace need not be handed over again
        os.chown(target, info.st_uid, info.st_gid, follow_symlinks=False)
    return info.st_size
