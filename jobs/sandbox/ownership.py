"""Hands the workspace to the sandbox's host uid, so commands can write what the root worker checked out or wrote."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path, PurePath

RECENT_NS = 2_000_000_000  # a directory changed this recently may change again within its mtime's granularity
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class WorkspaceOwner:
    """chowns what is not the sandbox's yet; between commands only directories whose mtime moved are read again.

    Whatever is chowned is reached through directory descriptors opened with O_NOFOLLOW from the workspace
    root, so a link the sandbox planted never leads the root worker outside. (Unchanged directories are only
    stat()ed by path, which decides whether to look, never what to change.) Files with more than one hard
    link are left alone: giving one away would give away every other name of it, wherever that is.
    """

    def __init__(self, root: Path, uid: int, gid: int):
        self.root, self.uid, self.gid = Path(root), uid, gid
        self.scanned: dict[str, int] = {}  # directory (relative) -> its mtime when last read; 0: read it again
        self.children: dict[str, list[str]] = {}

    def claim(self) -> None:
        root = os.open(self.root, _OPEN_DIR)
        try:
            pending = ["."]
            while pending:  # parents before their children, so a directory swapped for a link is seen first
                relative = pending.pop()
                children = self._check(root, relative)
                if children is None:
                    self._forget(relative)
                else:
                    pending.extend(os.path.join(relative, name) for name in children)
        finally:
            os.close(root)

    def _check(self, root: int, relative: str) -> list[str] | None:
        """The directory's subdirectories, reading it (and chowning in it) only if it changed; None if gone."""
        try:
            info = os.stat(relative, dir_fd=root, follow_symlinks=False)
            if not stat.S_ISDIR(info.st_mode):
                return None
            if self.scanned.get(relative) == info.st_mtime_ns and self._owns(info):
                return self.children[relative]
            fd = _open_beneath(root, relative)
        except OSError:  # gone, or replaced by a link or a file: its parent's next read sees it
            return None
        try:
            info = os.fstat(fd)
            if not self._owns(info):
                os.fchown(fd, self.uid, self.gid)
            self.children[relative] = self._claim_entries(fd)
        finally:
            os.close(fd)
        self.scanned[relative] = 0 if time.time_ns() - info.st_mtime_ns < RECENT_NS else info.st_mtime_ns
        return self.children[relative]

    def _claim_entries(self, fd: int) -> list[str]:
        """chown the directory's non-directory entries; return the names of its subdirectories."""
        subdirectories = []
        with os.scandir(fd) as entries:
            for entry in entries:
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    subdirectories.append(entry.name)
                elif not self._owns(info) and info.st_nlink == 1:
                    os.chown(entry.name, self.uid, self.gid, dir_fd=fd, follow_symlinks=False)
        return subdirectories

    def _owns(self, info: os.stat_result) -> bool:
        return (info.st_uid, info.st_gid) == (self.uid, self.gid)

    def _forget(self, relative: str) -> None:
        prefix = relative + os.sep
        for key in [k for k in self.scanned if k == relative or k.startswith(prefix)]:
            del self.scanned[key]
            self.children.pop(key, None)


def _open_beneath(root: int, relative: str) -> int:
    """A descriptor for root/relative, each step opened with O_NOFOLLOW: no link is ever followed."""
    fd = os.open(".", _OPEN_DIR, dir_fd=root)
    for part in PurePath(relative).parts:
        try:
            step = os.open(part, _OPEN_DIR, dir_fd=fd)
        finally:
            os.close(fd)
        fd = step
    return fd
