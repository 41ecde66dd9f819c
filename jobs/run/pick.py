"""`/codex pick N` on codexbot's pull request of a best-of run: the branch's change becomes attempt N's, as a new
commit on top (never a force-push), so the review history stays."""

from __future__ import annotations

import re

from jobs.git import workspace
from jobs.git.checkout import check_out
from jobs.records import runs
from jobs.records.attempts import attempt_change
from jobs.run.authorize import authorize, confirm_request
from jobs.run.cancellation import RunFailed
from jobs.run.context import RunContext
from jobs.run.finish import BOT_IDENTITY
from jobs.run.job import run_job
from jobs.run.locks import lock_key, pull_request_lock
from jobs.settings import current

_BRANCH = re.compile(r"^codex/(\d+)-([0-9a-f]{8})$")  # jobs.report.texts.branch_name


def run_pick(run_id: str) -> str:
    """The RQ job of `/codex pick N`: carries only the run id."""
    return run_job(current(), run_id, pick_requested, claims_workspace=True)


def pick_requested(run: RunContext) -> str:
    trigger = run.task.trigger
    confirm_request(run.forge, trigger, run.settings.command, run.settings.label)
    authorize(run.services, run.forge, trigger, run.run_id)
    number = int(trigger.command.text)
    repo = run.forge.repository()
    pull = run.forge.issue(trigger.number).pull
    found = _BRANCH.match(pull.head_branch) if pull is not None and pull.head_repo == repo.full_name else None
    if pull is None or pull.state != "open" or found is None:
        raise RunFailed("pick works on codexbot's own open pull request of a run that compared attempts")
    source = _source_run(run, int(found[1]), found[2])
    change = attempt_change(run.conn, source, number) if source else None
    if change is None:
        raise RunFailed(f"there is no kept change of attempt {number} for this pull request: only a run with "
                        "--attempts or --models keeps its attempts' changes (for 30 days), and only those that made one")
    run.react("eyes")
    key = lock_key(trigger.forge, trigger.repo, trigger.number)
    with pull_request_lock(run.conn, key, run.run_id, run.settings.job_timeout, lambda holder: None,
                           run.check_cancelled):
        return _replace_change(run, repo, pull.head_branch, number, *change)


def _source_run(run: RunContext, issue: int, prefix: str) -> str | None:
    """The run that opened the pull request: on the issue its branch names, with the id its branch begins with."""
    t = run.task.trigger
    return next((rid for rid in runs.runs_on_thread(run.conn, t.forge, t.repo, issue) if rid.startswith(prefix)), None)


def _replace_change(run: RunContext, repo, branch: str, number: int, base: str, patch: str) -> str:
    """Check out the branch, set the tree to the base plus attempt N's patch, commit on top and push."""
    run.progress("checking out")
    read = run.forge.git_credentials(write=False)
    check_out(run.settings, run.services.workspaces, repo, read, branch, run.workdir, run.log)
    if workspace.git(run.workdir, "cat-file", "-e", f"{base}^{{commit}}", check=False).returncode != 0:
        workspace.git(run.workdir, "fetch", "-q", "--no-tags", "--depth", "1", "origin", base, credentials=read)
    workspace.git(run.workdir, "read-tree", "-u", "--reset", base)
    applied = workspace.git(run.workdir, "apply", "--index", "--binary", "-", input=patch, check=False)
    if applied.returncode != 0:
        raise RunFailed(f"attempt {number}'s change does not apply to its base any more "
                        f"({workspace.last_lines(applied.stderr, 1)})")
    head = workspace.commit_all(run.workdir, f"codexbot: use attempt {number}'s change\n\nAsked for with "
                                             f"`pick {number}` by @{run.task.trigger.author}.\n", BOT_IDENTITY)
    if head is None:
        return run.finish("succeeded", f"`{branch}` already holds attempt {number}'s change")
    run.progress("publishing")
    workspace.push(run.workdir, branch, run.forge.git_credentials(write=True))
    run.log(f"pushed {head[:12]} to {branch}: attempt {number}'s change")
    return run.finish("succeeded", f"pushed {head[:12]} to `{branch}`: the change is now attempt {number}'s")
