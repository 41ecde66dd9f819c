"""The run's git checkout: clone, branch, commit and push, with credentials that never touch the disk."""

from __future__ import annotations

import base64
import fnmatch
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from jobs.forges.base import GitCredentials

GIT_TIMEOUT = 300
# host git's HOME: no user-level ignore or attributes files (the workspace, the agent's, used to be HOME)
NO_HOME = "/nonexistent/codexbot-host-git"
# host-side git never runs anything the agent could have planted in .git (hooks, fsmonitor, pagers)
_SAFE_CONFIG = ("core.hooksPath=/dev/null", "core.fsmonitor=false", "core.pager=cat", "credential.helper=",
                "protocol.file.allow=never", "advice.detachedHead=false", "init.defaultBranch=main")


class WorkspaceError(RuntimeError):
    """A git step failed; the message says which and why."""


class PushRejected(WorkspaceError):
    """The remote refused the push, usually because the branch moved."""


class DiffTooLarge(WorkspaceError):
    """The agent's change is bigger than CODEXBOT_MAX_DIFF_BYTES allows."""


@dataclass(frozen=True)
class Identity:
    name: str
    email: str


def git(workdir: Path, *args: str, credentials: GitCredentials | None = None, check: bool = True,
        timeout: float = GIT_TIMEOUT, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run host-side git with a clean environment; credentials go in through env-only config."""
    # surrogateescape: paths and contents that are not UTF-8 survive the round trip instead of crashing
    options = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
    try:
        proc = subprocess.run(git_argv(workdir, *args), cwd=workdir, env=git_env(workdir, credentials),
                              capture_output=True, encoding="utf-8", errors="surrogateescape", timeout=timeout,
                              **options)
    except subprocess.TimeoutExpired:
        raise WorkspaceError(f"git {_command_name(args)} took longer than {timeout:.0f} s and was stopped") from None
    if check and proc.returncode != 0:
        raise WorkspaceError(explain_git_failure(f"git {_command_name(args)} failed", proc.stderr))
    return proc


DISK_FULL = ("No space left on device", "Out of diskspace", "Disk quota exceeded")
NOT_FOUND = ("not found", "returned error: 404", "does not appear to be a git repository")
REFUSED = ("returned error: 403", "returned error: 401", "Permission denied", "Authentication failed")


def explain_git_failure(what: str, stderr: str) -> str:
    """One sentence for a failed git command: what happened and, for the failures we know, what to do."""
    said = last_lines(stderr)
    if any(sign in stderr for sign in DISK_FULL):
        return (f"{what} because the disk under CODEXBOT_DATA_DIR is full ({said}): free space there "
                "(kept workspaces and old mirrors can go), then ask again")
    return f"{what}: {said}"


def explain_fetch_failure(stderr: str) -> str:
    """Why a repository could not be fetched, with the fix for a missing repository or missing access."""
    said = last_lines(stderr)
    if any(sign in stderr for sign in NOT_FOUND):
        return (f"the repository could not be fetched because the forge says it does not exist ({said}): "
                "check that it exists and that the GitHub App is installed on it or the GitLab token belongs to it")
    if any(sign in stderr for sign in REFUSED):
        return (f"the repository could not be fetched because the forge refused access ({said}): give the "
                "GitHub App Contents: read, or the GitLab token read_repository, on it")
    return explain_git_failure("the repository could not be fetched", stderr)


def git_argv(workdir: Path, *args: str) -> list[str]:
    """The git command line with the safe settings in front of args.

    safe.directory: the sandbox may own the checkout now; what git guards against there (an owner's config
    running code) is handled by takeback.take_back_git and by the settings above."""
    argv = ["git", "-c", f"safe.directory={Path(workdir).resolve()}"]
    for item in _SAFE_CONFIG:
        argv += ["-c", item]
    return argv + list(args)


def git_env(workdir: Path, credentials: GitCredentials | None = None) -> dict[str, str]:
    """A clean environment for host-side git; the token, if any, rides in GIT_CONFIG_* only."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": NO_HOME, "XDG_CONFIG_HOME": NO_HOME,
           "LANG": "C.UTF-8", "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
           "GIT_ATTR_NOSYSTEM": "1", "GIT_NO_REPLACE_OBJECTS": "1",  # no replace refs: the history is the real one
           # a checkout whose .git the agent deleted must fail, not fall through to a repository further up
           "GIT_CEILING_DIRECTORIES": str(Path(workdir).resolve().parent)}
    if credentials is not None:
        basic = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
        # GIT_CONFIG_* lives only in this process's environment: not on disk, not in `ps` arguments
        env.update({"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
                    "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}"})
    return env


def clone(url: str, dest: Path, credentials: GitCredentials, branch: str | None = None) -> None:
    """Clone url into dest (which must not exist); the token is used for this one command only."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    args = ["clone", "--no-tags", "--single-branch"] + (["--branch", branch] if branch else []) + [url, str(dest)]
    proc = git(dest.parent, *args, credentials=credentials, check=False)
    if proc.returncode != 0:
        shutil.rmtree(dest, ignore_errors=True)
        raise WorkspaceError(f"the repository could not be cloned: {last_lines(proc.stderr)}")


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


def refuse_links(gitdir: Path) -> None:
    """No symbolic links in .git: one could lead host git to another repository's objects, or out of the tree."""
    for folder, subfolders, files in os.walk(gitdir):
        for name in subfolders + files:
            if os.path.islink(os.path.join(folder, name)):
                where = os.path.relpath(os.path.join(folder, name), gitdir.parent)
                raise WorkspaceError(f"the agent planted a symbolic link at {where}; nothing was committed")


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
        raise WorkspaceError(explain_git_failure(f"the push to {branch} failed", text))


def diff(workdir: Path, base: str) -> str:
    return git(workdir, "diff", f"{base}..HEAD").stdout


def diff_stat(workdir: Path, base: str) -> str:
    return git(workdir, "diff", "--stat", f"{base}..HEAD").stdout.strip()


def last_lines(text: str, count: int = 3) -> str:
    """The end of git's stderr, where it says what went wrong."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " / ".join(lines[-count:]) or "no output"


def _command_name(args: Sequence[str]) -> str:
    """The git subcommand in args, skipping global options such as `-c key=value`."""
    rest = list(args)
    while rest and rest[0].startswith("-"):
        rest = rest[2:] if rest[0] == "-c" else rest[1:]
    return rest[0] if rest else "command"


def is_protected(path: str, patterns: Sequence[str]) -> bool:
    """Whether the agent may not change path: a pattern without `/` matches any name in the path,
    one with `/` matches the path or a folder it is in (`*` also crosses `/`)."""
    parts = path.split("/")
    if ".git" in parts:
        return True
    for pattern in patterns:
        pattern = pattern.strip("/")
        candidates = parts if "/" not in pattern else ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(fnmatch.fnmatchcase(candidate, pattern) for candidate in candidates):
            return True
    return False


def revert_protected(workdir: Path, patterns: Sequence[str] = ()) -> list[str]:
    """Undo changes to what the agent must not touch (nested .git, [agent] protected_paths) before commit_all."""
    reverted = _drop_nested_repos(workdir)
    git(workdir, "read-tree", "HEAD")
    git(workdir, "add", "--all")
    names = git(workdir, "diff", "--cached", "--name-only", "--no-renames", "-z", "HEAD").stdout.split("\0")
    protected = sorted(name for name in names if name and is_protected(name, patterns))
    if protected:  # no-overlay: a file the agent added is removed, one it changed or deleted comes back
        git(workdir, "--literal-pathspecs", "checkout", "-q", "--no-overlay", "HEAD", "--pathspec-from-file=-",
            "--pathspec-file-nul", input="\0".join(protected))
    git(workdir, "read-tree", "HEAD")
    return reverted + protected


def _drop_nested_repos(workdir: Path, rounds: int = 10) -> list[str]:
    """A `git init` by the agent (cargo new runs one) would be committed as a gitlink, or make `git add`
    fail; remove the nested .git and keep the files."""
    dropped: list[str] = []
    for _ in range(rounds):  # a repository inside a nested one shows up once the outer .git is gone
        listed = git(workdir, "ls-files", "--others", "--exclude-standard", "-z").stdout.split("\0")
        nested = [name.rstrip("/") for name in listed if name.endswith("/")]
        if not nested:
            return dropped
        for name in nested:
            target = workdir / name / ".git"
            if target.is_symlink() or target.is_file():
                target.unlink()
            elif target.is_dir():
                shutil.rmtree(target)
            dropped.append(f"{name}/.git")
    raise WorkspaceError(f"the agent left git repositories nested more than {rounds} deep; nothing was committed")


def diff_size(workdir: Path, base: str, timeout: float = GIT_TIMEOUT) -> int:
    """Bytes of the binary patch base..HEAD, counted as it streams so that a huge change costs no memory."""
    args = ("diff", "--binary", "--no-color", "--no-ext-diff", "--no-textconv", f"{base}..HEAD")
    with tempfile.TemporaryFile() as errors, subprocess.Popen(
            git_argv(workdir, *args), cwd=workdir, env=git_env(workdir), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=errors) as proc:
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        total = 0
        try:
            while chunk := proc.stdout.read(1 << 20):
                total += len(chunk)
        finally:
            timer.cancel()
        if proc.wait() < 0:
            raise WorkspaceError(f"git diff took longer than {timeout:.0f} s and was stopped")
        if proc.returncode != 0:
            errors.seek(0)
            raise WorkspaceError(f"git diff failed: {last_lines(errors.read().decode(errors='replace'))}")
    return total


def check_diff_size(workdir: Path, base: str, max_bytes: int) -> int:
    """Refuse a change over the cap before it is pushed (0 means no cap); returns its size."""
    size = diff_size(workdir, base)
    if max_bytes > 0 and size > max_bytes:
        raise DiffTooLarge(f"the change is {_megabytes(size)}, over the {_megabytes(max_bytes)} limit "
                           "(CODEXBOT_MAX_DIFF_BYTES); ask for a smaller change or raise the limit")
    return size


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f}".removesuffix(".0") + " MB" if size < 10e6 else f"{size / 1e6:.0f} MB"
