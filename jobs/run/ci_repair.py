"""CI repairs: when CI fails on codexbot's own pull request, one follow-up run on its branch whose task is the
failing jobs' names and log tails, at most `[ci] fix_attempts` times per pull request, each announced there;
it says so when CI passes again, or when the attempts ran out. `/codex fix-ci` does the same on demand on any
pull request from a branch of the repository. A CI event is a claim: the checks are read through the API."""

from __future__ import annotations

from dataclasses import replace

from jobs.forges.base import PullRequest
from jobs.forges.reviewing import ChecksState, CiChecks
from jobs.repo.config import RepoConfig
from jobs.report.checks import CHECK_NAME
from jobs.report.texts import quiet
from jobs.run.authorize import authorize, confirm_request
from jobs.run.cancellation import RunFailed
from jobs.run.context import RunContext
from jobs.run.finish import Finish
from jobs.run.job import run_job
from jobs.run.locks import lock_key, pull_request_lock
from jobs.run.pipeline import run_pipeline
from jobs.run.start import Start, pull_and_config
from jobs.settings import current
from jobs.types import Command

TAIL_LINES = 80  # of each failing job's log, in the task
MAX_JOBS = 5  # failing jobs described in one task
STATE_TTL = 30 * 24 * 3600


def run_ci_repair(run_id: str) -> str:
    """The RQ job of a CI event or `/codex fix-ci`: carries only the run id."""
    return run_job(current(), run_id, repair_requested, claims_workspace=True)


def repair_requested(run: RunContext) -> str:
    trigger = run.task.trigger
    if not isinstance(run.forge, CiChecks):
        raise RunFailed("codexbot cannot read CI results on this forge")
    repo, config, pull = pull_and_config(run)
    automatic = trigger.source == "event"
    if automatic:
        reason = _not_ours(run, config, pull, repo.full_name)
        if reason:
            return _quiet(run, reason)
    else:
        confirm_request(run.forge, trigger, run.settings.command, run.settings.label)
        authorize(run.services, run.forge, trigger, run.run_id)
        if pull is None or pull.state != "open" or pull.head_repo != repo.full_name:
            raise RunFailed("fix-ci works on an open pull request from a branch of this repository")
    checks = run.forge.checks(pull.number, pull.head_sha, CHECK_NAME, TAIL_LINES)
    if checks.state == "pending":
        return _quiet(run, f"CI is still running on {pull.head_sha[:12]}") if automatic else \
            run.finish("succeeded", f"CI is still running on {pull.head_sha[:12]}: ask again when it is done")
    state = RepairState(run, pull)
    if checks.state == "success":
        if automatic:
            state.say_passed()
            return _quiet(run, f"CI passes on {pull.head_sha[:12]}")
        return run.finish("succeeded", f"CI passes on {pull.head_sha[:12]}: nothing to repair")
    if automatic:
        if not state.claim_head():
            return _quiet(run, f"a repair of {pull.head_sha[:12]} was already started")
        done = state.attempts()
        if done >= config.ci_fix_attempts:
            state.say_gave_up(done, checks)
            return _quiet(run, f"CI fails and the {done} repair attempts ([ci] fix_attempts) are used up")
        number = state.count_attempt()
        detail = f"codexbot is trying CI repair {number} of {config.ci_fix_attempts}"
    else:
        run.react("eyes")
        detail = "codexbot is trying a CI repair as asked"
    return _repair(run, pull, checks, detail)


def _repair(run: RunContext, pull: PullRequest, checks: ChecksState, detail: str) -> str:
    """A follow-up on the pull request's branch whose task is the failing jobs, as any other follow-up."""
    names = ", ".join(f"`{quiet(f.name)}`" for f in checks.failed[:MAX_JOBS])
    run.log(f"{detail}: failing {names}")
    marker = f"<!-- codexbot:ci-repair={run.run_id} -->"
    if run.forge.find_comment(pull.number, marker) is None:  # a retried job announces once
        run.forge.comment(pull.number, f"{marker}\n🔧 CI fails on {pull.head_sha[:12]} ({names}): {detail}, "
                                       f"a follow-up commit on `{pull.head_branch}`. [Run log]({run.link})")
    task = replace(run.task, trigger=replace(run.task.trigger, command=Command(kind="task", text=ci_task(checks))))
    run = run.for_task(task)
    key = lock_key(task.trigger.forge, task.trigger.repo, task.trigger.number)
    with pull_request_lock(run.conn, key, run.run_id, run.settings.job_timeout, lambda holder: None,
                           run.check_cancelled):
        return run_pipeline(run, Start("pull_request"), Finish("followup"))


def ci_task(checks: ChecksState) -> str:
    """What the agent is asked: make the failing jobs pass, with each job's name and the end of its log."""
    parts = ["The pull request's CI fails. Find out why from the failing jobs below, fix the cause in the code "
             "(not by skipping or deleting tests, nor by changing the CI configuration), and run the tests.", ""]
    for failed in checks.failed[:MAX_JOBS]:
        parts += [f"Failing job: {failed.name}", "The end of its log:", failed.log_tail.strip() or "(no log)", ""]
    if len(checks.failed) > MAX_JOBS:
        parts.append(f"({len(checks.failed) - MAX_JOBS} more jobs fail; fix these first.)")
    return "\n".join(parts).strip()


def _not_ours(run: RunContext, config: RepoConfig, pull: PullRequest | None, repo: str) -> str:
    if config.ci_fix_attempts == 0:
        return "CI repairs are off ([ci] fix_attempts = 0)"
    if pull is None or pull.state != "open":
        return "the pull request is not open"
    author, bot = pull.author.lower(), run.settings.github_bot_login.lower()
    ours = author.endswith("[bot]") or (bot and author == bot) or _gitlab_bot(author)
    if not ours or not pull.head_branch.startswith("codex/") or pull.head_repo != repo:
        return "not codexbot's own pull request"
    return ""


def _gitlab_bot(name: str) -> bool:
    return (name.startswith("project_") or name.startswith("group_")) and "_bot" in name


def _quiet(run: RunContext, reason: str) -> str:
    """An event that needs no repair ends without a word on the forge."""
    run.log(f"no CI repair: {reason}")
    return run.journal.record_end("succeeded", f"no CI repair: {reason}")


class RepairState:
    """Per pull request in Redis: repair attempts, heads already handled, and what was said once."""

    def __init__(self, run: RunContext, pull: PullRequest):
        t = run.task.trigger
        self.run, self.pull = run, pull
        self.key = f"codexbot:ci-repair:{t.forge}:{t.repo.lower()}:{pull.number}"

    def attempts(self) -> int:
        return int(self.run.conn.hget(self.key, "attempts") or 0)

    def count_attempt(self) -> int:
        number = self.run.conn.hincrby(self.key, "attempts", 1)
        self.run.conn.expire(self.key, STATE_TTL)
        return number

    def claim_head(self) -> bool:
        """One repair per head commit, however many failing suites or check runs report it."""
        claimed = self.run.conn.hsetnx(self.key, f"head:{self.pull.head_sha}", self.run.run_id)
        self.run.conn.expire(self.key, STATE_TTL)
        return bool(claimed)

    def say_passed(self) -> None:
        done = self.attempts()
        if done and self.run.conn.hsetnx(self.key, f"passed:{self.pull.head_sha}", self.run.run_id):
            repairs = f"{done} repair{'s' if done != 1 else ''}"
            self.run.forge.comment(self.pull.number, f"✅ CI passes on {self.pull.head_sha[:12]} after {repairs} "
                                                     "by codexbot.")

    def say_gave_up(self, done: int, checks: ChecksState) -> None:
        if self.run.conn.hsetnx(self.key, "gave_up", self.run.run_id):
            names = ", ".join(f"`{quiet(f.name)}`" for f in checks.failed[:MAX_JOBS])
            self.run.forge.comment(self.pull.number, f"❌ CI still fails on {self.pull.head_sha[:12]} ({names}) after "
                                                     f"{done} repair attempt{'s' if done != 1 else ''} by codexbot "
                                                     "([ci] fix_attempts in .codexbot.toml); over to you.")
