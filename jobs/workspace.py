"""The run's git checkout: clone, branch, commit and push, with credentials that never touch the disk."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from jobs.forges.base import GitCredentials

GIT_TIMEOUT = 300
# host-side git never runs anything the agent could have planted in .git (hooks, fsmonitor, pagers)
_SAFE_CONFIG = ("core.hooksPath=/dev/null", "core.fsmonitor=false", "core.pager=cat", "credential.helper=",
                "protocol.file.allow=never", "advice.detachedHead=false", "init.defaultBranch=main")


class WorkspaceError(RuntimeError):
    """A git step failed; the message says which and why."""


class PushRejected(WorkspaceError):
    """The remote refused the push, usually because the branch moved."""


@dataclass(frozen=True)
class Identity:
    name: str
    email: str


def git(workdir: Path, *args: str, credentials: GitCredentials | None = None, check: bool = True,
        timeout: float = GIT_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run host-side git with a clean environment; credentials go in through env-only config."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir), "LANG": "C.UTF-8",
           "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"}
    if credentials is not None:
        basic = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
        # GIT_CONFIG_* lives only in this process's environment: not on disk, not in `ps` arguments
        env.update({"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
                    "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}"})
    argv = ["git"]
    for item in _SAFE_CONFIG:
        argv += ["-c", item]
    try:
        proc = subprocess.run(argv + list(args), cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise WorkspaceError(f"git {args[0]} took longer than {timeout:.0f} s and was stopped") from None
    if check and proc.returncode != 0:
        raise WorkspaceError(f"git {args[0]} failed: {_last_lines(proc.stderr)}")
    return proc


def clone(url: str, dest: Path, credentials: GitCredentials, branch: str | None = None) -> None:
    """Clone url into dest (which must not exist); the token is used for this one command only."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    args = ["clone", "--no-tags", "--single-branch"] + (["--branch", branch] if branch else []) + [url, str(dest)]
    proc = git(dest.parent, *args, credentials=credentials, check=False)
    if proc.returncode != 0:
        shutil.rmtree(dest, ignore_errors=True)
        raise WorkspaceError(f"the repository could not be cloned: {_last_lines(proc.stderr)}")


def head_sha(workdir: Path) -> str:
    return git(workdir, "rev-parse", "HEAD").stdout.strip()


def create_branch(workdir: Path, branch: str, credentials: GitCredentials) -> bool:
    """Check out branch: the remote's if an earlier attempt of the run pushed it (True), else a new one."""
    found = git(workdir, "ls-remote", "--heads", "origin", f"refs/heads/{branch}", credentials=credentials).stdout
    if found.strip():
        git(workdir, "fetch", "--no-tags", "origin", f"+refs/heads/{branch}:refs/remotes/origin/{branch}",
            credentials=credentials)
        git(workdir, "checkout", "-B", branch, f"refs/remotes/origin/{branch}")
        return True
    git(workdir, "checkout", "-B", branch)
    return False


def reset_git_dir(workdir: Path, saved_config: str) -> None:
    """Undo what a command in the sandbox may have planted in .git before host git touches it again."""
    gitdir = workdir / ".git"
    (gitdir / "config").write_text(saved_config)
    hooks = gitdir / "hooks"
    if hooks.is_symlink() or hooks.is_file():
        hooks.unlink()
    elif hooks.is_dir():
        shutil.rmtree(hooks)


def commit_all(workdir: Path, message: str, author: Identity) -> str | None:
    """Commit every change in the work tree; None when there is nothing to commit."""
    # Rebuild the index from HEAD: its cached file stats cannot be trusted after the sandbox wrote files
    # within the same second (same size, same inode: git would miss the change), nor can anything the
    # agent staged itself. Every file is then hashed afresh.
    git(workdir, "read-tree", "HEAD")
    git(workdir, "add", "--all")
    if git(workdir, "diff", "--cached", "--quiet", check=False).returncode == 0:
        return None
    git(workdir, "-c", f"user.name={author.name}", "-c", f"user.email={author.email}",
        "commit", "--no-verify", "--no-gpg-sign", "-q", "-m", message)
    return head_sha(workdir)


def push(workdir: Path, branch: str, credentials: GitCredentials) -> None:
    """Push HEAD to branch without force: a branch that moved on the remote is refused, never overwritten."""
    proc = git(workdir, "push", "--porcelain", "origin", f"HEAD:refs/heads/{branch}", credentials=credentials, check=False)
    if proc.returncode != 0:
        text = proc.stderr + proc.stdout
        if "rejected" in text or "non-fast-forward" in text or "fetch first" in text:
            raise PushRejected(f"the push to {branch} was rejected because the branch moved; start the run again")
        raise WorkspaceError(f"the push to {branch} failed: {_last_lines(text)}")


def diff(workdir: Path, base: str) -> str:
    return git(workdir, "diff", f"{base}..HEAD").stdout


def diff_stat(workdir: Path, base: str) -> str:
    return git(workdir, "diff", "--stat", f"{base}..HEAD").stdout.strip()


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " / ".join(lines[-count:]) or "no output"
