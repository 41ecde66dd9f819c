"""Put the working tree back as it was before a command that should leave no trace (the test run on the
base, before the agent): files it added are removed, tracked files it changed or deleted are checked out
again, and files setup had already changed or made get back the content they had then (so setup's
package-lock.json stays setup's, whatever the tests did to it). Host git reads the tree only after
jobs/git/takeback.py gave `.git` back to the worker."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from jobs.git.workspace import git
from jobs.sandbox.files import PlantedFile, read_regular, replace_file

MAX_KEPT_BYTES = 64 << 20  # of files setup changed, kept to put back; beyond, they are only compared by status
MAX_KEPT_FILES = 5000
GONE = "gone"  # the file was deleted before: it is deleted again
UNKNOWN = "unknown"  # not kept (a link, too big): left as the command left it


@dataclass(frozen=True)
class TreeState:
    """git's status of every changed or untracked file, and the content of those that were regular files."""

    status: dict[str, str]
    contents: dict[str, tuple[bytes, int] | str] = field(default_factory=dict)  # (data, mode), GONE or UNKNOWN


def tree_status(workdir: Path) -> dict[str, str]:
    """path → git's two-letter status, for every changed or untracked (not ignored) file."""
    out = git(workdir, "status", "--porcelain=v1", "-z", "--untracked-files=all").stdout
    entries, status = {}, out.split("\0")
    index = 0
    while index < len(status) and status[index]:
        entry = status[index]
        code, path = entry[:2], entry[3:]
        entries[path] = code
        index += 2 if code[0] in "RC" else 1  # a rename is followed by its old path
    return entries


def tree_state(workdir: Path) -> TreeState:
    """The tree's status with the content of each changed file, to put back with put_back."""
    root, status = workdir.resolve(), tree_status(workdir)
    contents: dict[str, tuple[bytes, int] | str] = {}
    budget = MAX_KEPT_BYTES
    for path in sorted(status)[:MAX_KEPT_FILES]:
        target = root / path
        contents[path] = _content(root, target, budget)
        if isinstance(contents[path], tuple):
            budget -= len(contents[path][0])
    return TreeState(status, contents)


def put_back(workdir: Path, before: TreeState) -> list[str]:
    """Undo what changed since `before` (a tree_state); the paths put back, for the log."""
    root = workdir.resolve()
    now = tree_status(workdir)
    restored: list[str] = []
    for path in sorted(set(now) | set(before.status)):
        target = root / path
        if not _inside_without_links(root, target):
            continue  # never follow a link out of the workspace
        if path not in before.status:
            if now[path] == "??":
                if target.is_symlink() or target.is_file():
                    target.unlink()
                    restored.append(path)
            else:
                git(workdir, "checkout", "--", path)
                restored.append(path)
        elif _put_content(root, target, before.contents.get(path, UNKNOWN)):
            restored.append(path)
    return restored


def _content(root: Path, target: Path, budget: int) -> tuple[bytes, int] | str:
    if not _inside_without_links(root, target):
        return UNKNOWN
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return GONE
    if not stat.S_ISREG(info.st_mode) or info.st_size > budget:
        return UNKNOWN
    try:
        return read_regular(target, budget), stat.S_IMODE(info.st_mode)
    except (OSError, PlantedFile):
        return UNKNOWN


def _put_content(root: Path, target: Path, kept: tuple[bytes, int] | str) -> bool:
    """Give target the content it had before; True when it had to change."""
    if kept == UNKNOWN:
        return False
    current = _content(root, target, MAX_KEPT_BYTES)
    if current == kept:
        return False
    if kept == GONE:
        if target.is_dir() and not target.is_symlink():
            return False  # a folder where the file was: its files are listed on their own
        target.unlink(missing_ok=True)
        return True
    data, mode = kept
    if target.is_dir() and not target.is_symlink():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    replace_file(target, data)
    os.chmod(target, mode)  # replace_file made it: a regular file, no link
    return True


def _inside_without_links(root: Path, target: Path) -> bool:
    parent = Path(os.path.realpath(target.parent))
    return parent == root or parent.is_relative_to(root) and parent == root / target.parent.relative_to(root)
