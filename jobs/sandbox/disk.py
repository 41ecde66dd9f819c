"""How much disk a run's workspace takes, measured after each command: a walk with os.scandir that never
follows a link, never crosses into another filesystem, counts what is allocated (a sparse file's holes take
nothing) and each hard-linked inode once, and stops as soon as the cap or the entry bound is passed; a
directory it cannot read counts as over, since it could hide anything."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

MAX_ENTRIES = 2_000_000  # files and directories one measure looks at; more is over the quota by itself
ENTRY_BYTES = 512  # what an entry costs on disk at least, so a million empty files are not free


@dataclass(frozen=True)
class DiskUse:
    bytes: int
    entries: int
    over: str = ""  # why the walk stopped early: "bytes" or "entries" past their bound, or "unreadable"


def measure_disk(root: Path, cap_bytes: int, max_entries: int = MAX_ENTRIES) -> DiskUse:
    """The allocated size of everything under root, up to the first byte past cap_bytes."""
    top = os.lstat(root)
    pending, seen_links = [os.fspath(root)], set()
    total, entries = top.st_blocks * 512, 1
    while pending:
        try:
            scan = os.scandir(pending.pop())
        except (FileNotFoundError, NotADirectoryError):
            continue  # removed while we walked: nothing of it to count
        except PermissionError:  # a directory made unreadable could hide anything: it counts as over
            return DiskUse(total, entries, over="unreadable")
        with scan:
            for entry in scan:
                entries += 1
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if info.st_nlink > 1 and not stat.S_ISDIR(info.st_mode):
                    if (info.st_dev, info.st_ino) in seen_links:
                        continue
                    seen_links.add((info.st_dev, info.st_ino))
                total += max(info.st_blocks * 512, ENTRY_BYTES)
                if total > cap_bytes or entries > max_entries:
                    return DiskUse(total, entries, over="bytes" if total > cap_bytes else "entries")
                if stat.S_ISDIR(info.st_mode) and info.st_dev == top.st_dev:
                    pending.append(entry.path)
    return DiskUse(total, entries)
