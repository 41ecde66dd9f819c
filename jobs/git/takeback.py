"""After commands ran in the sandbox, the worker takes `.git` back: HEAD, every ref, the config, the files that
steer what git sees (excludes, attributes, grafts, shallow, alternates) and the index are the ones it saved
before, whatever the agent did. The agent's own commits, tags, replace objects and settings are dropped;
the change is only what its working tree holds."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from jobs.git.workspace import WorkspaceError, git, refuse_links
from jobs.sandbox.files import read_regular, replace_file

# every file in .git whose content changes what host git reads, commits or pushes
STEERING = ("HEAD", "config", "shallow", "info/exclude", "info/attributes", "info/grafts", "info/sparse-checkout",
            "objects/info/alternates", "objects/info/http-alternates", "commondir", "packed-refs")
DROPPED = ("refs", "logs", "worktrees", "modules", "rr-cache")  # rebuilt from the saved state, or not needed
LIMIT = 1 << 20


@dataclass(frozen=True)
class GitState:
    """`.git` as the worker checked it out, before anything ran in the sandbox."""

    files: tuple[tuple[str, bytes | None], ...]  # STEERING file → its bytes, None when absent
    refs: tuple[tuple[str, str], ...]  # every ref → the object it names


def save_git_state(workdir: Path) -> GitState:
    gitdir = _gitdir(workdir)
    files = tuple((name, read_regular(gitdir / name, LIMIT) if (gitdir / name).exists() else None)
                  for name in STEERING if name != "packed-refs")
    listed = git(workdir, "for-each-ref", "--format=%(objectname) %(refname)").stdout.splitlines()
    return GitState(files, tuple(tuple(line.split(" ", 1)[::-1]) for line in listed if line))


def take_back_git(workdir: Path, state: GitState) -> None:
    """Put `.git` back as saved; raises WorkspaceError when it was replaced or holds links."""
    gitdir = _gitdir(workdir)
    hooks = gitdir / "hooks"  # removed whole: setup scripts like to link hooks in
    if hooks.is_symlink() or hooks.is_file():
        hooks.unlink()
    elif hooks.is_dir():
        shutil.rmtree(hooks)
    refuse_links(gitdir)  # before any write: a link would send it, as the worker, anywhere on the host
    for name in DROPPED:
        target = gitdir / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    for folder in ("refs/heads", "refs/tags"):
        (gitdir / folder).mkdir(parents=True, exist_ok=True)
    saved = dict(state.files)
    saved["packed-refs"] = "".join(f"{sha} {name}\n" for name, sha in state.refs).encode() or None
    for name in STEERING:
        target = gitdir / name
        if saved.get(name) is None:
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            replace_file(target, saved[name])
    for lock in gitdir.glob("*.lock"):
        lock.unlink()
    git(workdir, "read-tree", "HEAD")  # the index the agent left is not used either


def _gitdir(workdir: Path) -> Path:
    gitdir = workdir / ".git"
    if gitdir.is_symlink() or not gitdir.is_dir():
        raise WorkspaceError("the agent replaced .git with a link or a file; nothing was committed")
    return gitdir
