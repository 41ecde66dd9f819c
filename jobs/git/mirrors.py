"""A mirror of each repository in the data dir, so that a run's checkout costs its working tree, not its history.

Under root: `<name>.git`, a bare mirror of the branches runs start from, each fetched (with the run's read
token) when a run starts from it: never the branches runs pushed, so a warm fetch usually brings nothing;
`locks/<name>.lock`, an flock held while a mirror is fetched or read (threads and worker processes on one
machine take turns; eviction skips a locked mirror); in each mirror `codexbot-last-used` (touched on every
use, for least-recently-used eviction) and `codexbot-snapshots/<sha>/`, a ready checkout of one commit.

A checkout is a copy of the snapshot: a shallow, self-contained repository whose `.git` holds a pack of just
that commit's objects, and nothing that points into the mirror (no alternates, no worktree link, no hard
links). So git works inside the sandbox, where the mirror is not mounted, and nothing the agent does to
`.git` can reach the mirror or a later run. `origin` is the forge URL, so the host-side push works with the
write token. Files are written as they are in git: LFS pointers stay pointers (a note says so).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from jobs.forges.base import GitCredentials
from jobs.sandbox.files import PlantedFile, read_regular
from jobs.git.workspace import WorkspaceError, explain_fetch_failure, explain_git_failure, git, git_argv, git_env

MIRROR_SUFFIX = ".git"
LAST_USED = "codexbot-last-used"
SNAPSHOTS = "codexbot-snapshots"
KEEP_SNAPSHOTS = 2  # per mirror, each about twice the working tree: the tips runs start from now
MAX_PACKS = 16  # each fetch adds a pack; past this many they are merged
ATTRIBUTES_LIMIT = 1 << 20  # bytes of one .gitattributes read for the LFS note
FETCH_TIMEOUT = 1800
LOCK_TIMEOUT = FETCH_TIMEOUT + 60
# no automatic gc while others may read; fetched objects always land in a pack, never loose
MIRROR_CONFIG = "[gc]\n\tauto = 0\n[maintenance]\n\tauto = false\n[fetch]\n\tunpackLimit = 1\n"
LFS_NOTE = ("the repository keeps files in Git LFS; the workspace has their pointer files, not their "
            "content (codexbot does not download LFS objects)")


class MirrorBusy(WorkspaceError):
    """Another run holds the mirror's lock."""


@dataclass(frozen=True)
class Checkout:
    path: Path
    base_sha: str
    notes: tuple[str, ...] = ()


def mirror_name(repo_key: str) -> str:
    """A directory name for repo_key that stays readable, cannot collide and cannot leave root."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", repo_key).strip("._")[:60]
    return f"{readable}-{hashlib.sha256(repo_key.encode()).hexdigest()[:10]}"


@contextmanager
def repo_lock(root: Path, name: str, wait: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the repository's lock; flock, so it also works between worker processes and is freed on a crash."""
    path = root / "locks" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _acquire(fd, name, wait)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _acquire(fd: int, name: str, wait: float) -> None:
    """Poll for the lock so that the wait has a limit, like every other step of a run."""
    deadline, delay = time.monotonic() + wait, 0.002
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise MirrorBusy(f"the mirror {name} stayed locked by another run for {wait:.0f} s; "
                                 "start the run again later") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


class Mirrors:
    """The mirror cache under root (the data dir's `mirrors`)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def checkout(self, url: str, repo_key: str, credentials: GitCredentials, branch: str, dest: Path) -> Checkout:
        """Bring the mirror up to date, then make dest a self-contained shallow checkout of branch."""
        if dest.exists():
            raise WorkspaceError(f"the workspace {dest} already exists; remove it first")
        name = mirror_name(repo_key)
        mirror = self.root / (name + MIRROR_SUFFIX)
        try:
            with repo_lock(self.root, name):
                self._update(mirror, url, credentials, branch)
                sha = _tip(mirror, branch)
                _copy_snapshot(_snapshot(mirror, sha), dest)
                (mirror / LAST_USED).touch()
            _point_at_branch(dest, url, branch, sha)  # from here on the mirror is not needed
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)  # half a checkout is worth nothing; the error says why
            raise
        return Checkout(dest, sha, _notes(dest))

    def _update(self, mirror: Path, url: str, credentials: GitCredentials, branch: str) -> None:
        """Fetch the branch into the mirror, or make it: in a side directory first, so a failed clone leaves nothing."""
        if mirror.is_dir():
            _fetch(mirror, url, credentials, branch)
            _merge_packs(mirror)
            return
        partial = mirror.with_name(mirror.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)  # a crashed clone's; we hold the lock, nobody else writes it
        self.root.mkdir(parents=True, exist_ok=True)
        git(self.root, "init", "-q", "--bare", "--template=", str(partial))
        with open(partial / "config", "a", encoding="utf-8") as config:
            config.write(MIRROR_CONFIG)
        try:
            _fetch(partial, url, credentials, branch)
        except WorkspaceError:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        partial.rename(mirror)


def _fetch(mirror: Path, url: str, credentials: GitCredentials, branch: str) -> None:
    """The one branch the run starts from (with protocol v2 the forge lists only that ref); not tags, pull refs
    (forks' objects have no place in a run's checkout) or the branches earlier runs pushed."""
    if not branch or any(c in branch for c in ":*?[\\ ~^") or not branch.isprintable():
        raise WorkspaceError(f"{branch!r} is not a branch name git accepts")
    ref = f"refs/heads/{branch}"
    proc = git(mirror, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", url, f"+{ref}:{ref}",
               credentials=credentials, check=False, timeout=FETCH_TIMEOUT)
    if proc.returncode == 0:
        return
    if "couldn't find remote ref" in proc.stderr:
        git(mirror, "update-ref", "-d", ref, check=False)  # deleted on the forge: not in the mirror either
        raise WorkspaceError(f"the branch {branch} does not exist in the repository")
    raise WorkspaceError(explain_fetch_failure(proc.stderr))


def _merge_packs(mirror: Path) -> None:
    """Each fetch adds a pack; a geometric repack keeps their number logarithmic at little cost."""
    if len(list((mirror / "objects" / "pack").glob("*.pack"))) > MAX_PACKS:
        git(mirror, "repack", "-d", "-q", "--geometric=2", timeout=FETCH_TIMEOUT)


def _tip(mirror: Path, branch: str) -> str:
    proc = git(mirror, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", check=False)
    if proc.returncode != 0:
        raise WorkspaceError(f"the branch {branch} does not exist in the repository")
    return proc.stdout.strip()


def _snapshot(mirror: Path, sha: str) -> Path:
    """A ready checkout of one commit (its tree, index and a pack of just its objects), made once per commit:
    a run's checkout is then a plain copy of it, which costs about what writing the working tree costs."""
    folder = mirror / SNAPSHOTS
    done = folder / sha
    if done.is_dir():
        os.utime(done)  # recently used: kept by _prune_snapshots
        return done
    partial = folder / f"{sha}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    folder.mkdir(exist_ok=True)
    git(folder, "init", "-q", "--template=", str(partial))
    _pack_commit(mirror, sha, partial / ".git" / "objects" / "pack" / "pack")
    (partial / ".git" / "shallow").write_text(sha + "\n")  # its parents are not there, and git must know
    git(partial, "read-tree", "-u", "--reset", sha)
    partial.rename(done)
    _prune_snapshots(folder)
    return done


def _pack_commit(mirror: Path, sha: str, base: Path) -> None:
    """rev-list names the commit's objects, pack-objects copies them out (reusing compressed data, no delta search)."""
    env = git_env(mirror)
    listing = subprocess.Popen(git_argv(mirror, "rev-list", "--objects", "--max-count=1", sha), cwd=mirror, env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        packing = subprocess.run(git_argv(mirror, "pack-objects", "-q", "--window=0", "--delta-base-offset", str(base)),
                                 cwd=mirror, env=env, stdin=listing.stdout, capture_output=True, timeout=FETCH_TIMEOUT)
    finally:
        listing.stdout.close()
        listing.wait(timeout=FETCH_TIMEOUT)
    if listing.returncode != 0 or packing.returncode != 0:
        raise WorkspaceError(explain_git_failure(f"the mirror could not pack {sha[:12]}",
                                                 packing.stderr.decode(errors="replace")))


def _prune_snapshots(folder: Path) -> None:
    snapshots = sorted(folder.iterdir(), key=lambda path: path.stat().st_mtime, reverse=True)
    for old in snapshots[KEEP_SNAPSHOTS:]:
        shutil.rmtree(old)


def _copy_snapshot(snapshot: Path, dest: Path) -> None:
    """A real copy, never links: the agent can write anywhere in its checkout, .git included."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:  # cp copies trees several times faster than shutil.copytree; -P keeps symlinks as they are
        proc = subprocess.run(["cp", "-RP", str(snapshot), str(dest)], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=FETCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise WorkspaceError(f"copying the checkout took longer than {FETCH_TIMEOUT} s and was stopped") from None
    if proc.returncode != 0:
        raise WorkspaceError(explain_git_failure("the checkout could not be copied", proc.stderr))


def _point_at_branch(dest: Path, url: str, branch: str, sha: str) -> None:
    """Make the copy a checkout of branch, with origin at the forge, as `git clone --branch` would."""
    (dest / ".git" / "HEAD").write_text(f"ref: refs/heads/{branch}\n")  # a valid name: the mirror has it
    with open(dest / ".git" / "config", "a", encoding="utf-8") as config:
        config.write(_origin_config(url, branch))
    git(dest, "update-ref", "--stdin", input=f"create refs/heads/{branch} {sha}\n"
                                             f"create refs/remotes/origin/{branch} {sha}\n")


def _origin_config(url: str, branch: str) -> str:
    """What `git clone --single-branch --branch` writes, so fetch and push behave as in a clone."""
    return (f'[remote "origin"]\n\turl = {_quote(url)}\n'
            f'\tfetch = {_quote(f"+refs/heads/{branch}:refs/remotes/origin/{branch}")}\n'
            f'[branch {_quote(branch)}]\n\tremote = origin\n\tmerge = {_quote("refs/heads/" + branch)}\n')


def _quote(value: str) -> str:
    if "\n" in value or "\0" in value:
        raise WorkspaceError(f"{value!r} cannot be written to git's config")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _notes(dest: Path) -> tuple[str, ...]:
    """What the run should know about the checkout: LFS content is not there."""
    listed = git(dest, "ls-files", "-z", "--", ":(glob)**/.gitattributes").stdout.split("\0")
    for name in filter(None, listed):
        try:  # committed by an earlier run, it may be a link (to a host file, to /dev/zero): never followed
            text = read_regular(dest / name, ATTRIBUTES_LIMIT)
        except (PlantedFile, FileNotFoundError):
            continue
        if b"filter=lfs" in text:
            return (LFS_NOTE,)
    return ()
