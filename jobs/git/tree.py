"""Put the working tree back as it was before a command that should leave no trace (the test run on the
base, before the agent): files it added are removed, tracked files it changed or deleted are checked out
again. Host git reads the tree only after jobs/git/takeback.py gave `.git` back to the worker."""

from __future__ import annotations

import os
from pathlib import Path

from jobs.git.workspace import git


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


def put_back(workdir: Path, before: dict[str, str]) -> list[str]:
    """Undo what changed since `before` (a tree_status); the paths put back, for the log."""
    root = workdir.resolve()
    restored: list[str] = []
    for path, code in sorted(tree_status(workdir).items()):
        if before.get(path) == code:
            continue
        target = root / path
        if not _inside_without_links(root, target):
            continue  # never follow a link out of the workspace
        if code == "??":
            if target.is_symlink() or target.is_file():
                target.unlink()
                restored.append(path)
        elif path not in before:
            git(workdir, "checkout", "--", path)
            restored.append(path)
    return restored


def _inside_without_links(root: Path, target: Path) -> bool:
    parent = Path(os.path.realpath(target.parent))
    return parent == root or parent.is_relative_to(root) and parent == root / target.parent.relative_to(root)
