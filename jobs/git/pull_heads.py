"""A pull request's head in a run's checkout: fetched by the forge's ref for it (forks included), deepened
until its merge base with the base branch is there, so the review sees the diff the forge shows."""

from __future__ import annotations

import re
from pathlib import Path

from jobs.forges.base import GitCredentials
from jobs.git import workspace

HEAD_REF, BASE_REF = "refs/codexbot/head", "refs/codexbot/base"
DEPTHS = (50, 1000, None)  # None: the whole history


def check_out_pull_head(workdir: Path, head_ref: str, base_branch: str, credentials: GitCredentials) -> tuple[str, str]:
    """Detach the checkout at the pull request's head; (head sha, merge base with base_branch)."""
    for depth in DEPTHS:
        deepen = [f"--depth={depth}"] if depth else (["--unshallow"] if _shallow(workdir) else [])
        fetched = workspace.git(workdir, "fetch", "-q", "--no-tags", "--no-write-fetch-head", *deepen, "origin",
                                f"+{head_ref}:{HEAD_REF}", f"+refs/heads/{base_branch}:{BASE_REF}",
                                credentials=credentials, check=False)
        if fetched.returncode != 0:
            raise workspace.WorkspaceError(
                f"the pull request's head ({head_ref}) could not be fetched: "
                f"{workspace.last_lines(fetched.stderr, 1) or 'git failed'}")
        base = workspace.git(workdir, "merge-base", BASE_REF, HEAD_REF, check=False)
        if base.returncode == 0 and base.stdout.strip():
            workspace.git(workdir, "checkout", "-q", "--detach", HEAD_REF)
            return workspace.head_sha(workdir), base.stdout.strip()
    raise workspace.WorkspaceError(f"the pull request's head shares no history with {base_branch}: "
                                   "nothing to compare it with")


def check_out_reviewed(workdir: Path, head_ref: str, head: str, base: str, credentials: GitCredentials) -> None:
    """Detach the checkout at `head`, a commit the pull request had when it was reviewed, with BASE_REF at the
    `base` it was compared with (what a review's replay reads)."""
    if not all(re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", sha) for sha in (head, base)):
        raise workspace.WorkspaceError("the recorded review names no commits (a head and a base sha)")
    fetched = workspace.git(workdir, "fetch", "-q", "--no-tags", "--no-write-fetch-head", "origin",
                            f"+{head_ref}:{HEAD_REF}", credentials=credentials, check=False)
    if fetched.returncode != 0:
        raise workspace.WorkspaceError(f"the pull request's head ({head_ref}) could not be fetched: "
                                       f"{workspace.last_lines(fetched.stderr, 1) or 'git failed'}")
    for sha in (head, base):
        if workspace.git(workdir, "cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode != 0:
            raise workspace.WorkspaceError(f"the reviewed commit {sha[:12]} is no longer in the repository "
                                           "(the pull request's branch was force-pushed since)")
    workspace.git(workdir, "update-ref", BASE_REF, base)
    workspace.git(workdir, "checkout", "-q", "--detach", head)


def _shallow(workdir: Path) -> bool:
    return workspace.git(workdir, "rev-parse", "--is-shallow-repository").stdout.strip() == "true"
