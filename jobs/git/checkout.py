"""A run's workspace from the mirror cache, with the housekeeping that goes with it."""

from __future__ import annotations

from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

from jobs.git import cleanup, workspace
from jobs.forges.base import GitCredentials, Repository
from jobs.git.mirrors import Mirrors
from jobs.settings import Settings


def check_out(settings: Settings, workspaces: Path, repo: Repository, credentials: GitCredentials, branch: str,
              workdir: Path, log: Callable[[str], None]) -> str:
    """Replace any earlier attempt's workspace, sweep crashed runs' leftovers, check out from the mirror;
    the commit checked out."""
    cleanup.remove_tree(workdir)  # an earlier attempt's, kept because it failed
    cleanup.sweep_workspaces(workspaces, settings.keep_failed_seconds)
    mirrors = Mirrors(Path(settings.data_dir) / "mirrors")
    checkout = mirrors.checkout(repo.clone_url, mirror_key(repo), credentials, branch, workdir)
    for note in checkout.notes:
        log(f"note: {note}")
    for name in cleanup.evict_mirrors(mirrors.root, settings.mirror_max_bytes):
        log(f"removed the least recently used mirror {name} (CODEXBOT_MIRROR_MAX_BYTES)")
    return checkout.base_sha


def mirror_key(repo: Repository) -> str:
    """One mirror per repository of a forge host."""
    return f"{urlparse(repo.clone_url).hostname}/{repo.id}"


def finish_workspace(settings: Settings, workdir: Path, failed: bool, log: Callable[[str], None]) -> None:
    """Remove the workspace, or keep a failed run's for CODEXBOT_KEEP_FAILED_SECONDS to debug it."""
    keep = settings.keep_failed_seconds
    try:
        if cleanup.finish_workspace(workdir, failed, keep):
            log(f"kept the workspace of this failed run for {keep} s (CODEXBOT_KEEP_FAILED_SECONDS)")
    except OSError as exc:
        log(f"could not remove the workspace: {exc}")


class BaseNotFound(RuntimeError):
    """The commit a delegated run starts from is not on the forge."""


def move_to_commit(workdir: Path, sha: str, credentials: GitCredentials) -> None:
    """Put the checkout at sha (a delegated run's base): fetched by id when it is not the branch tip."""
    have = workspace.git(workdir, "cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0
    if not have:
        fetched = workspace.git(workdir, "fetch", "-q", "--no-tags", "--depth", "1", "origin", sha,
                                credentials=credentials, check=False)
        if fetched.returncode != 0:
            raise BaseNotFound(f"the commit {sha[:12]} is not on the forge: push it, then delegate again")
    workspace.git(workdir, "checkout", "-q", "--detach", sha)


def apply_user_diff(workdir: Path, diff: str, identity) -> str:
    """Commit the delegating user's uncommitted changes on top of HEAD; the commit the agent's change starts from."""
    if diff:
        proc = workspace.git(workdir, "apply", "--binary", "--whitespace=nowarn", "-", input=diff, check=False)
        if proc.returncode != 0:
            raise workspace.WorkspaceError("your uncommitted changes do not apply to the base commit "
                                           f"({workspace.last_lines(proc.stderr, 1)}); commit or stash them and "
                                           "delegate again")
        workspace.commit_all(workdir, "codexbot: the delegating user's uncommitted changes", identity)
    return workspace.head_sha(workdir)
