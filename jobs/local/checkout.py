"""The user's git checkout in local mode: find it, copy it (HEAD plus uncommitted work) for a run, apply a result back.

The copy is a separate repository in a temporary directory, so the agent can never touch the user's
working tree, index or .git; only `apply_patch` writes there, and only when the user asks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from jobs.git import patches, workspace

SNAPSHOT_IDENTITY = workspace.Identity("codexbot local", "codexbot@localhost.invalid")
# written by test runs and tools, never part of a change; added to the copy's .git/info/exclude
CACHE_PATTERNS = (".pytest_cache/", "__pycache__/", ".mypy_cache/", ".ruff_cache/", "*.pyc")


class CheckoutError(RuntimeError):
    """The checkout cannot be used or changed; the message says why and what to do."""


@dataclass(frozen=True)
class Snapshot:
    """The run's copy: `base` is the commit holding HEAD plus the user's uncommitted work."""

    path: Path
    head: str  # the user's HEAD commit
    base: str  # the commit the agent's diff is taken from
    carried: list[str]  # what was copied besides HEAD, for the log


def find_checkout(start: Path) -> Path:
    """The top of the git working tree that holds start, or one sentence saying it is not one."""
    try:
        proc = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=start, capture_output=True, text=True,
                              timeout=30, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise CheckoutError("git is not installed: install git to use codexbot locally") from None
    if proc.returncode != 0 or not proc.stdout.strip():
        raise CheckoutError(f"{start} is not inside a git checkout: run codexbot inside the repository "
                            "you want to change")
    return Path(proc.stdout.strip())


def head_commit(checkout: Path) -> str:
    """The checkout's HEAD, or one sentence when the repository has no commit yet."""
    proc = workspace.git(checkout, "rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
    if proc.returncode != 0:
        raise CheckoutError(f"the repository at {checkout} has no commit yet: commit something first, "
                            "so the change has a base")
    return proc.stdout.strip()


def make_snapshot(checkout: Path, dest: Path, skip: Path | None = None) -> Snapshot:
    """A repository at dest with the checkout's HEAD, its uncommitted changes and its untracked, unignored files."""
    head = head_commit(checkout)
    dest.mkdir(parents=True)
    workspace.git(dest, "init", "-q")
    # the user's repository is local and trusted: allow the file transport for this one fetch
    workspace.git(dest, "-c", "protocol.file.allow=always", "fetch", "-q", "--depth", "1", "--no-tags",
                  str(checkout), head)
    workspace.git(dest, "checkout", "-q", "--detach", "FETCH_HEAD")
    _write_excludes(checkout, dest)
    carried = _carry_changes(checkout, dest) + _carry_untracked(checkout, dest, skip)
    base = workspace.commit_all(dest, "codexbot: the checkout's uncommitted changes", SNAPSHOT_IDENTITY)
    return Snapshot(dest, head, base or head, carried)


def _write_excludes(checkout: Path, dest: Path) -> None:
    """The user's own info/exclude, plus caches, so neither shows up in the agent's diff."""
    own = workspace.git(checkout, "rev-parse", "--git-path", "info/exclude").stdout.strip()
    source = (checkout / own) if own else None
    text = source.read_text(errors="replace") if source is not None and source.is_file() else ""
    target = dest / ".git" / "info" / "exclude"
    target.parent.mkdir(exist_ok=True)
    target.write_text(text + "\n" + "\n".join(CACHE_PATTERNS) + "\n")


def _carry_changes(checkout: Path, dest: Path) -> list[str]:
    """Staged and unstaged changes to tracked files, as one binary patch."""
    patch = workspace.git(checkout, "diff", "HEAD", "--binary", "--no-color", "--no-ext-diff", "--no-textconv").stdout
    if not patch:
        return []
    proc = workspace.git(dest, "apply", "--binary", "--whitespace=nowarn", "-", input=patch, check=False)
    if proc.returncode != 0:
        raise CheckoutError(f"the uncommitted changes could not be copied: {workspace.last_lines(proc.stderr)}")
    names = workspace.git(checkout, "diff", "HEAD", "--name-only", "-z").stdout.split("\0")
    return [name for name in names if name]


def _carry_untracked(checkout: Path, dest: Path, skip: Path | None) -> list[str]:
    """Untracked files that .gitignore does not exclude; nested repositories are left out."""
    listed = workspace.git(checkout, "ls-files", "--others", "--exclude-standard", "-z").stdout.split("\0")
    carried = []
    for name in filter(None, listed):
        source = checkout / name
        if name.endswith("/") or (skip is not None and source.resolve().is_relative_to(skip.resolve())):
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        elif source.is_file():
            shutil.copy2(source, target)
        else:
            continue
        carried.append(name)
    return carried


def change_of(snapshot: Snapshot) -> str:
    """The agent's change from the snapshot's base, binary-safe so `git apply` can take it back."""
    return patches.patch_of(snapshot.path, snapshot.base)


def save_preimages(snapshot: Snapshot, folder: Path) -> None:
    """The changed files as they were before the agent, so a three-way apply has its merge base later."""
    write_preimages(patches.preimages_of(snapshot.path, snapshot.base), folder)


def write_preimages(preimages: dict[str, bytes], folder: Path) -> None:
    for name, content in preimages.items():
        target = folder / name
        if not target.resolve().is_relative_to(folder.resolve()):
            raise CheckoutError(f"the change names a file outside the repository ({name!r}); nothing was applied")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def working_tree_diff(checkout: Path) -> str:
    """HEAD to the working tree, untracked (unignored) files included, as one binary patch; the user's index
    is left as it is (the untracked files are added to a throwaway copy of it)."""
    with _scratch_index(checkout, "codexbot-diff-") as env:
        for args in (("add", "--all"), ("diff", "--cached", "--binary", "--no-renames", "--no-color", "--no-ext-diff",
                                         "--no-textconv", "HEAD")):
            proc = subprocess.run(workspace.git_argv(checkout, *args), cwd=checkout, env=env, capture_output=True,
                                  encoding="utf-8", errors="surrogateescape", timeout=workspace.GIT_TIMEOUT,
                                  stdin=subprocess.DEVNULL)
            if proc.returncode != 0:
                raise CheckoutError(f"the uncommitted changes could not be read: {workspace.last_lines(proc.stderr)}")
    return proc.stdout


def apply_patch(checkout: Path, patch: Path, preimages: Path | None = None) -> str:
    """Apply a run's diff.patch to the working tree: plainly if it fits, else by a three-way merge."""
    if not patch.is_file() or patch.stat().st_size == 0:
        raise CheckoutError(f"{patch} holds no change to apply")
    text = patch.read_text(errors="surrogateescape")
    if _apply_plainly(checkout, text):
        return "applied the change to the working tree"
    proc = _apply_three_way(checkout, text, preimages)
    if proc.returncode == 0:
        return "applied the change with a three-way merge"
    conflicted = [line[2:] for line in proc.stderr.splitlines() if line.startswith("U ")]
    if conflicted:
        raise CheckoutError("the change conflicts with your edits in " + ", ".join(conflicted) +
                            ": the conflict markers are in those files; resolve them and the rest is applied")
    raise CheckoutError(f"the change does not apply to your working tree ({workspace.last_lines(proc.stderr, 2)}); "
                        f"nothing was changed; the patch is at {patch}")


def _apply_three_way(checkout: Path, text: str, preimages: Path | None) -> subprocess.CompletedProcess:
    """`git apply --3way` against a throwaway index holding the working tree, so the user's index is untouched.

    (--3way implies --index: with the real index, any unstaged edit to a changed file would refuse the merge.)"""
    _store_preimages(checkout, preimages)
    with _scratch_index(checkout, "codexbot-apply-") as env:
        names = workspace.git(checkout, "apply", "--numstat", "-z", "-", input=text).stdout.split("\0")
        present = [n.split("\t")[-1] for n in names if n and (checkout / n.split("\t")[-1]).exists()]
        if present:
            added = subprocess.run(workspace.git_argv(checkout, "add", "-f", "--", *present), cwd=checkout, env=env,
                                   capture_output=True, text=True, timeout=workspace.GIT_TIMEOUT)
            if added.returncode != 0:
                raise CheckoutError(f"the working tree could not be read for a three-way merge: "
                                    f"{workspace.last_lines(added.stderr)}")
        return subprocess.run(workspace.git_argv(checkout, "apply", "--3way", "-"), cwd=checkout, env=env,
                              input=text, capture_output=True, encoding="utf-8", errors="surrogateescape",
                              timeout=workspace.GIT_TIMEOUT)


def _apply_plainly(checkout: Path, text: str) -> bool:
    """Apply the diff as it stands when it fits the working tree; False, and nothing touched, when it does not."""
    if workspace.git(checkout, "apply", "--check", "-", input=text, check=False).returncode != 0:
        return False
    workspace.git(checkout, "apply", "-", input=text)
    return True


def _store_preimages(checkout: Path, preimages: Path | None) -> None:
    """Put the saved pre-agent files in the object store, so a three-way apply finds its merge base."""
    if preimages is not None and preimages.is_dir():
        for path in (p for p in preimages.rglob("*") if p.is_file()):
            _git_bytes(checkout, "hash-object", "-w", "--no-filters", "--", str(path))


@contextmanager
def _scratch_index(checkout: Path, prefix: str) -> Iterator[dict]:
    """A git environment whose index is a throwaway copy of the checkout's, so the user's index is never written."""
    own_index = checkout / workspace.git(checkout, "rev-parse", "--git-path", "index").stdout.strip()
    with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        index = Path(scratch) / "index"
        if own_index.is_file():
            shutil.copyfile(own_index, index)
        yield {**workspace.git_env(checkout), "GIT_INDEX_FILE": str(index)}


def _git_bytes(workdir: Path, *args: str) -> bytes:
    """Host-side git whose output is file content: bytes, not text."""
    proc = subprocess.run(workspace.git_argv(workdir, *args), cwd=workdir, env=workspace.git_env(workdir),
                          capture_output=True, timeout=workspace.GIT_TIMEOUT, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise CheckoutError(f"git {args[0]} failed: {workspace.last_lines(proc.stderr.decode(errors='replace'))}")
    return proc.stdout


def apply_or_refuse(checkout: Path, text: str, preimages: Path | None = None) -> str:
    """Apply a diff to the working tree, plainly or by a three-way merge, or not at all: on a conflict the
    working tree and the index stay exactly as they were and the message names the files."""
    if not text:
        raise CheckoutError("the run holds no change to apply")
    if _apply_plainly(checkout, text):
        return "applied the change to the working tree"
    _store_preimages(checkout, preimages)
    names = [n.split("\t")[-1] for n in workspace.git(checkout, "apply", "--numstat", "-z", "-", input=text)
             .stdout.split("\0") if n]
    with _scratch_index(checkout, "codexbot-apply-") as env:
        present = [name for name in names if (checkout / name).exists()]
        if present:
            _run_git(checkout, env, "add", "-f", "--", *present)
        merged = _run_git(checkout, env, "apply", "--3way", "--cached", "-", input=text, check=False)
        conflicted = sorted({line.split("\t")[-1] for line in _run_git(checkout, env, "ls-files", "-u").stdout
                             .splitlines() if line})
        if merged.returncode != 0 or conflicted:
            where = ", ".join(conflicted) or workspace.last_lines(merged.stderr, 1)
            raise CheckoutError(f"the change conflicts with your edits ({where}); nothing was changed: commit or "
                                "stash your edits, then apply again")
        staged = set(_run_git(checkout, env, "ls-files", "-z", "--", *names).stdout.split("\0"))
        for name in names:
            if name not in staged and (checkout / name).exists():
                (checkout / name).unlink()
        if staged - {""}:
            _run_git(checkout, env, "checkout-index", "-f", "-z", "--stdin", input="\0".join(sorted(staged - {""})))
    return "applied the change with a three-way merge"


def _run_git(checkout: Path, env: dict, *args: str, input: str | None = None, check: bool = True):
    proc = subprocess.run(workspace.git_argv(checkout, *args), cwd=checkout, env=env, capture_output=True,
                          encoding="utf-8", errors="surrogateescape", timeout=workspace.GIT_TIMEOUT,
                          **({"input": input} if input is not None else {"stdin": subprocess.DEVNULL}))
    if check and proc.returncode != 0:
        raise CheckoutError(f"git {args[0]} failed: {workspace.last_lines(proc.stderr)}")
    return proc
