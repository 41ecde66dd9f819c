"""Where a run's change goes: a new pull request, a follow-up commit on a pull request's branch, or a diff
kept for `codexbot apply` (with `delegate --pr`, also a pull request)."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable

from jobs.agent.loop import AgentResult
from jobs.forges.base import PullRequest
from jobs.git import patches, workspace
from jobs.records import branch_pulls, delegated, runs
from jobs.records.results import store_delta, store_outcome
from jobs.report.checks import report_check
from jobs.report.followups import finish_followup
from jobs.report.texts import co_author, commit_message, pull_request_body, pull_request_title, run_cost
from jobs.run.attempt import AttemptResult
from jobs.run.cancellation import RunFailed
from jobs.run.context import RunContext
from jobs.run.start import Prepared
from jobs.types import Trigger

BOT_IDENTITY = workspace.Identity("codexbot", "codexbot@users.noreply.github.com")


@dataclass(frozen=True)
class Finish:
    """Where the change goes: "pull_request" (a new one), "followup" (the pull request's branch) or "diff"."""

    kind: str
    open_pull_request: bool = False  # "diff": `delegate --pr` also opens one

    @classmethod
    def of(cls, trigger: Trigger) -> Finish:
        if trigger.delegation is not None:
            return cls("diff", trigger.delegation.pull_request)
        return cls("followup" if trigger.is_pull_request else "pull_request")


def commit_message_for(finish: Finish, trigger: Trigger, redact: Callable[[str], str]) -> Callable[[str], str]:
    """The agent's summary → the message of the commit that holds the change."""
    if finish.kind == "diff":
        return lambda summary: redact(f"codexbot: {summary or 'change'}")
    return lambda summary: redact(commit_message(trigger, trigger.command.text, summary, co_author(trigger)))


def publish(run: RunContext, prepared: Prepared, result: AttemptResult, finish: Finish, attempts_table: str = "") -> str:
    """Put the change where finish says; the message the run ends with."""
    if not result.changed:
        raise RunFailed(result.no_change_reason(run.redact))
    if finish.kind == "diff":
        return _keep_diff(run, prepared, result, finish)
    store_outcome(run.conn, run.run_id, run.journal.redactor, result.agent.transcript, result.diff, result.tests)
    store_delta(run.conn, run.run_id, run.journal.redactor, result.delta)
    _push(run, prepared.push_branch, result.head)
    stat = workspace.diff_stat(run.workdir, prepared.base_sha)
    # a check run (GitHub) or commit status (GitLab) on the pushed commit, linking to the run page
    report_check(run.forge, result.head, result.tests, stat, run.link, run.redact, result.delta)
    trigger = run.task.trigger
    if finish.kind == "followup" and prepared.fork_of:  # a fork's: a new pull request here, linking it
        trigger = replace(trigger, is_pull_request=True)  # closes nothing: no issue asked for this one
    elif finish.kind == "followup":  # answer on each addressed review thread, keep the description whole
        return finish_followup(run.forge, trigger, list(prepared.review), result.head, result.agent.summary,
                               result.tests, prepared.push_branch, run.run_id, run.link, run.redact)
    cost = cost_of(run, result.agent)
    failing = result.tests_failing
    body = pull_request_body(trigger, result.agent.summary, result.tests, stat, run.link, cost=cost, draft=failing,
                             change=result.delta)
    table = f"\n\n### Attempts\n\n{attempts_table}\n" if attempts_table else ""
    if prepared.fork_of:
        ref, kind = (f"!{prepared.fork_of}", "merge") if trigger.forge == "gitlab" else (f"#{prepared.fork_of}", "pull")
        body = (f"Based on {ref}, a {kind} request from a fork that codexbot cannot push to: this one holds its "
                f"commits and the change asked for there.\n\n{body}")
    pull = run.forge.open_pull_request(prepared.push_branch, prepared.base_branch,
                                       pull_request_title(trigger.command.text), run.redact(body + table), draft=failing)
    _record_pull(run, prepared.push_branch, pull)
    verdict = result.tests.summary() if result.tests else "no tests were run"
    verdict += f"; {result.delta.short()}" if result.delta is not None else ""
    if failing:
        why = "the change makes tests fail" if result.tests.ok else "the tests fail with the change"
        return f"opened {pull.url} as a draft: {why} ({verdict}). Cost: {cost}.{table}"
    return f"opened {pull.url} ({verdict}). Cost: {cost}.{table}"


def _record_pull(run: RunContext, head: str, pull: PullRequest, **fields: str) -> None:
    """The run's pull request on its record, and which pull request its branch has (for branch pipelines)."""
    runs.update_run(run.conn, run.run_id, pr_url=pull.url, **fields)
    branch_pulls.remember(run.conn, run.task.trigger.forge, run.task.trigger.repo, head, pull.number)


def cost_of(run: RunContext, agent: AgentResult) -> str:
    """The run's cost line so far (the agent's, of the chosen attempt; phases up to now)."""
    return run_cost(agent.steps, agent.prompt_tokens, agent.completion_tokens, agent.cost,
                    runs.read_phases(run.conn, run.run_id), time.time())


def _push(run: RunContext, branch: str, head: str) -> None:
    workspace.push(run.workdir, branch, run.forge.git_credentials(write=True))
    run.log(f"pushed {head[:12]} to {branch}")


def _keep_diff(run: RunContext, prepared: Prepared, result: AttemptResult, finish: Finish) -> str:
    """The agent's change as a binary diff from base + user diff, so `apply` adds only the agent's work."""
    patch = patches.patch_of(run.workdir, prepared.base_sha)
    store_outcome(run.conn, run.run_id, run.journal.redactor, result.agent.transcript, patch, result.tests)
    delegated.store_result(run.conn, run.run_id, run.redact(patch), prepared.base_sha,
                           patches.preimages_of(run.workdir, prepared.base_sha))
    verdict = result.tests.summary() if result.tests else "no tests were run"
    opened = _open_delegated_pull_request(run, prepared, result) if finish.open_pull_request else ""
    return f"the change is ready: run `codexbot apply {run.run_id}` ({verdict}){opened}"


def _open_delegated_pull_request(run: RunContext, prepared: Prepared, result: AttemptResult) -> str:
    """`delegate --pr`: the user's changes and the agent's, as two commits on a new branch, against the
    default branch (which also shows the user's own unmerged commits if their base was not on it)."""
    branch = f"codex/delegated-{run.run_id[:8]}"
    _push(run, branch, result.head)
    trigger = run.task.trigger
    # the body of a comment's pull request, without the "Fixes #N" line: no issue asked for this one
    body = pull_request_body(replace(trigger, is_pull_request=True), result.agent.summary, result.tests,
                             workspace.diff_stat(run.workdir, prepared.base_sha), run.link,
                             draft=result.tests_failing, change=result.delta)
    pull = run.forge.open_pull_request(branch, prepared.repo.default_branch, pull_request_title(trigger.command.text),
                                       run.redact(body), draft=result.tests_failing)
    _record_pull(run, branch, pull, branch=branch)
    return f"; opened {pull.url}"
