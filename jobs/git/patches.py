"""A change as a binary patch that `git apply` takes back, with the files it changes as they were before,
so a three-way apply has its merge base later (local runs and delegated runs)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from jobs.git import workspace


def patch_of(repo: Path, base: str) -> str:
    """The change base..HEAD, binary-safe, without renames, colour or drivers the tree could configure."""
    return workspace.git(repo, "diff", "--binary", "--no-renames", "--no-color", "--no-ext-diff", "--no-textconv",
                         f"{base}..HEAD").stdout


def preimages_of(repo: Path, base: str) -> dict[str, bytes]:
    """The files changed or deleted in base..HEAD, as they were at base."""
    names = workspace.git(repo, "diff", "--name-only", "--no-renames", "--diff-filter=MD", "-z",
                          f"{base}..HEAD").stdout.split("\0")
    return {name: git_bytes(repo, "cat-file", "blob", f"{base}:{name}") for name in filter(None, names)}


def git_bytes(workdir: Path, *args: str) -> bytes:
    """Host-side git's output as bytes (file contents need not be text)."""
    proc = subprocess.run(workspace.git_argv(workdir, *args), cwd=workdir, env=workspace.git_env(workdir),
                          capture_output=True, timeout=workspace.GIT_TIMEOUT, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise workspace.WorkspaceError(f"git {args[0]} failed: {workspace.last_lines(proc.stderr.decode(errors='replace'))}")
    return proc.stdout
