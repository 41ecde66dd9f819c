"""One run from queued task to pull request: the one place where the parts are wired together."""

from __future__ import annotations

import logging
import re
import time
import traceback

from jobs import metrics

from jobs.git import cleanup

from jobs.records import runs

from jobs.git import workspace
from jobs.agent.loop import AgentResult
from jobs.agent.model import ModelError
from jobs.run.agent_setup import SetupFailed, build_agent, permission_problem, run_setup_commands
from jobs.run.best_of import AttemptPlan, best_of
from jobs.run.cancellation import RunCancelled, RunFailed, cancel_reason, cancel_watch
from jobs.git.checkout import check_out, finish_workspace
from jobs.services import Services, current
from jobs.forges.base import Forge, ForgeError
from jobs.report.followups import finish_followup, plan_followup, report_check
from jobs.run.wiring import make_forge
from jobs.intake.accept import load_task
from jobs.access.links import sign_run_link
from jobs.run.locks import lock_key, pull_request_lock
from jobs.report.texts import branch_name, co_author, commit_message, pull_request_body, pull_request_title
from jobs.intake.rate_limits import release_repo_slot
from jobs.access.redaction import Redactor, settings_secrets
from jobs.repo.config import FILE_NAME, RepoConfig, RepoConfigError, parse_repo_config
from jobs.run.control import reply_to_control_command, task_to_retry
from jobs.records.results import store_outcome, store_tests, store_transcript
from jobs.sandbox import SandboxCancelled, SandboxError, make_sandbox
from jobs.settings import SettingsError
from jobs.repo.testing import TestResult, detect_test_command, run_tests
from jobs.report.tracking import TrackingComment
from jobs.types import Task

log = logging.getLogger("codexbot.pipeline")
KNOWN_FAILURES = (ForgeError, workspace.WorkspaceError, ModelError, RepoConfigError, SandboxError, SettingsError,
                  SetupFailed)
TRACKING_EDIT_SECONDS = 15  # a long run must not hit the forge's secondary rate limits with edits
BOT_IDENTITY = workspace.Identity("codexbot", "codexbot@users.noreply.github.com")


def run_task(run_id: str) -> str:
    """The RQ job: carries only the run id; everything else is in Redis."""
    services = current()
    task = load_task(services.redis, run_id)
    if task is not None and task.trigger.delegation is not None:
        from jobs.run.delegation import DelegatedPipeline  # a subclass of Pipeline: imported here, not at the top

        return DelegatedPipeline(services, run_id).run()
    return Pipeline(services, run_id).run()


class Pipeline:
    def __init__(self, services: Services, run_id: str):
        self.services, self.settings, self.conn = services, services.settings, services.redis
        self.run_id = run_id
        self.redactor = Redactor()
        self.redactor.add(*settings_secrets(self.settings))  # every secret setting, the App key's lines too
        self.forge: Forge | None = None
        self.forge_secrets = lambda: ()
        self.tracking: TrackingComment | None = None
        self.link = sign_run_link(self.settings.public_url, self.settings.secret_key, run_id)
        self.workdir = services.workspaces / run_id
        self.task_text = ""  # on a pull request: the follow-up task built from the review
        self.review: list = []  # the review's line comments this run answers
        self.attempts_table = ""  # with --attempts N: the comparison shown on the issue and the PR
        self.outcome = "failed"  # set by _finish; decides whether _cleanup keeps the workspace
        self.claim: cleanup.WorkspaceClaim | None = None
        self.protected_paths: tuple[str, ...] = ()

    def run(self) -> str:
        task = load_task(self.conn, self.run_id)
        record = runs.load_run(self.conn, self.run_id)
        if task is None or record is None:
            raise LookupError(f"run {self.run_id} has no stored task: it expired or was never recorded")
        if record.is_final:
            return record.status  # RQ ran the job again: the work is done
        # before the run is marked running: a second copy of a run in progress here stops without touching it
        self.claim = cleanup.WorkspaceClaim(self.workdir)
        runs.update_run(self.conn, self.run_id, status="running", attempts=record.attempts + 1)
        try:
            self.forge, self.forge_secrets = self._connect(task)
            self.tracking = self._make_tracking(task, record)
            if record.given_up:  # reconciliation gave up on it: only tell the people waiting
                return self._finish("failed", record.given_up)
            return self._run(task)
        except (RunCancelled, SandboxCancelled) as exc:
            return self._finish("cancelled", str(exc))
        except (RunFailed, *KNOWN_FAILURES) as exc:
            return self._finish("failed", str(exc))
        except Exception as exc:  # the job boundary: say so on the issue, then let RQ record it
            self.log("internal error:\n" + traceback.format_exc())
            self._finish("failed", f"codexbot hit an internal error ({type(exc).__name__}); the run log has details")
            raise
        finally:
            self._cleanup()

    def _connect(self, task: Task):
        return make_forge(self.services, task.trigger, log=self.log)

    def _make_tracking(self, task: Task, record: runs.Run):
        return TrackingComment(self.forge, task.trigger.number, self.run_id, self.link, self.redactor.redact,
                               record.tracking_comment_id,
                               lambda cid: runs.update_run(self.conn, self.run_id, tracking_comment_id=cid))

    def _run(self, task: Task) -> str:
        trigger, command = task.trigger, task.trigger.command
        if command.kind in ("cancel", "retry"):
            self._authorize(trigger)
        if command.kind == "retry":
            task, earlier = task_to_retry(self.conn, task, self.settings.command)
            self.log(f"retrying run {earlier}")
        elif command.kind != "task":
            reply_to_control_command(self.forge, self.conn, task, self.settings)
            runs.update_run(self.conn, self.run_id, status="succeeded", summary=f"answered /{command.kind}")
            return "succeeded"
        else:
            self._authorize(trigger)
        self.forge.react(trigger.number, trigger.comment_id, "eyes")
        if not trigger.is_pull_request:
            return self._run_task(task)
        key = lock_key(trigger.forge, trigger.repo, trigger.number)
        with pull_request_lock(self.conn, key, self.run_id, self.settings.job_timeout, self._wait_behind,
                               self.check_cancelled):
            return self._run_task(task)

    def _wait_behind(self, holder: str) -> None:
        self.log(f"waiting for run {holder} on this pull request to finish: one run writes to a branch at a time")
        self.progress("queued", detail=f"behind run {holder[:8]}")

    def _run_task(self, task: Task) -> str:
        self.progress("checking out")
        repo, config, base_branch, push_branch = self._prepare(task)
        if task.trigger.command.attempts > 1 and not task.trigger.is_pull_request:
            result, tests = self._best_of(task, repo, config, base_branch)
            self.progress("publishing")
            return self._publish(task, result, tests, base_branch, push_branch)
        sandbox = make_sandbox(self.settings.sandbox, self.workdir)
        with cancel_watch(self.conn, self.run_id, sandbox):
            try:
                sandbox.start_phase("setup")
                self.progress("setting up")
                run_setup_commands(sandbox, config, self.log)
                sandbox.start_phase("agent", network=config.agent_network)
                self.log("network in the agent phase: " + ("on ([network] agent = true)" if config.agent_network else "off"))
                result = self._agent(sandbox, config, task)
                tests = self._tests(sandbox, config)
            finally:
                sandbox.close()
        self.progress("publishing")
        return self._publish(task, result, tests, base_branch, push_branch)

    def _best_of(self, task: Task, repo, config: RepoConfig, base_branch: str):
        """`--attempts N`: N independent attempts at once; the chosen one's change lands in this workspace."""
        command, count = task.trigger.command, task.trigger.command.attempts
        self.progress("agent working", detail=f"{count} attempts in parallel")
        plan = AttemptPlan(self.settings, repo, self.forge.git_credentials(write=False), base_branch,
                           config, command, self.task_text or command.text, self.run_id, self.conn)
        root = self.services.workspaces.parent / "attempts" / self.run_id
        chosen, self.attempts_table = best_of(plan, root, count, self.workdir, self.log)
        self.check_cancelled()
        if chosen is None:
            raise RunFailed(f"none of the {count} attempts produced a change; the run log compares them")
        store_transcript(self.conn, self.run_id, self.redactor, chosen.result.transcript)
        runs.update_run(self.conn, self.run_id, summary=self.redactor.redact(chosen.result.summary))
        return chosen.result, chosen.tests

    def _authorize(self, trigger) -> None:
        problem = permission_problem(self.forge, trigger.author, self.settings.min_permission, trigger.forge)
        if problem:  # refused: the repository's hourly count gets this one back (the requester's does not)
            release_repo_slot(self.conn, trigger, self.run_id)
            raise RunFailed(problem)

    def _prepare(self, task: Task) -> tuple[object, RepoConfig, str, str]:
        trigger = task.trigger
        repo = self.forge.repository()
        config = parse_repo_config(self.forge.read_file(FILE_NAME, repo.default_branch))
        agents = self.forge.read_file("AGENTS.md", repo.default_branch) or ""
        base_branch, push_branch = repo.default_branch, branch_name(trigger, self.run_id)
        if trigger.is_pull_request:
            followup = plan_followup(self.forge, trigger, repo.full_name)
            if followup is None:
                raise RunFailed("this pull request comes from a fork, which codexbot cannot push to; "
                                "comment on an issue instead")
            base_branch = push_branch = followup.branch
            self.review, self.task_text = followup.comments, followup.task_text
        read = self.forge.git_credentials(write=False)
        prepared = check_out(self.settings, self.services.workspaces, repo, read, base_branch, self.workdir, self.log)
        self.base_sha, self.saved_git_config = prepared.base_sha, prepared.saved_git_config
        self.protected_paths = config.protected_paths
        if push_branch != base_branch and workspace.create_branch(self.workdir, push_branch, read):
            self.log(f"{push_branch} exists from an earlier attempt of this run; continuing from it")
        runs.update_run(self.conn, self.run_id, branch=push_branch, base_sha=self.base_sha)
        self.log(f"checked out {repo.full_name}@{base_branch}; the change goes to {push_branch}")
        return repo, RepoConfig(**{**config.__dict__, "instructions": agents}), base_branch, push_branch

    def _agent(self, sandbox, config: RepoConfig, task: Task) -> AgentResult:
        self.progress("agent working")
        command = task.trigger.command
        agent = build_agent(self.settings, command, config, sandbox, self._agent_event,
                            lambda: cancel_reason(self.conn, self.run_id))
        try:
            result = agent.run(self.task_text or command.text, instructions=config.instructions,
                               test_command=detect_test_command(self.workdir, config.test_command))
        except ModelError as error:
            if error.partial is not None:
                store_transcript(self.conn, self.run_id, self.redactor, error.partial.transcript)
            raise
        store_transcript(self.conn, self.run_id, self.redactor, result.transcript)
        if result.stopped_by == "cancelled":
            raise RunCancelled(result.stop_reason)
        runs.update_run(self.conn, self.run_id, summary=self.redactor.redact(result.summary),
                        usage={"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
                               "steps": result.steps, "cost": round(result.cost, 4)})
        self.log(f"agent stopped after {result.steps} steps: {result.stop_reason}")
        workspace.reset_git_dir(self.workdir, self.saved_git_config)
        return result

    def _tests(self, sandbox, config: RepoConfig) -> TestResult | None:
        self.progress("tests")
        command = detect_test_command(self.workdir, config.test_command)
        if command is None:
            self.log(f"no tests found; set [test] command in {FILE_NAME} to run them")
            return None
        started = time.time()
        tests = run_tests(sandbox, command, config.test_timeout)
        workspace.reset_git_dir(self.workdir, self.saved_git_config)
        self.log(tests.summary())
        store_tests(self.conn, self.run_id, self.redactor, tests, self.workdir, started)
        return tests

    def _publish(self, task, result: AgentResult, tests, base_branch, push_branch) -> str:
        trigger = task.trigger
        text = trigger.command.text
        message = self.redactor.redact(commit_message(trigger, text, result.summary, co_author(trigger)))
        reverted = workspace.revert_protected(self.workdir, self.protected_paths)
        if reverted:
            self.log("reverted the agent's changes to protected paths: " + ", ".join(reverted))
        committed = workspace.commit_all(self.workdir, message, BOT_IDENTITY)
        if committed is None and workspace.head_sha(self.workdir) == self.base_sha:
            if reverted:
                raise RunFailed(f"the agent changed only protected paths ({', '.join(reverted)}), "
                                "which codexbot reverted; nothing was pushed")
            raise RunFailed("the agent finished without changing any file" +
                            (f": {self.redactor.redact(result.summary)}" if result.summary else ""))
        store_outcome(self.conn, self.run_id, self.redactor, result.transcript,
                      workspace.diff(self.workdir, self.base_sha), tests)
        workspace.check_diff_size(self.workdir, self.base_sha, self.settings.max_diff_bytes)
        workspace.push(self.workdir, push_branch, self.forge.git_credentials(write=True))
        head = workspace.head_sha(self.workdir)
        self.log(f"pushed {head[:12]} to {push_branch}")
        # a check run (GitHub) or commit status (GitLab) on the pushed commit, linking to the run page
        report_check(self.forge, head, tests, workspace.diff_stat(self.workdir, self.base_sha), self.link,
                     self.redactor.redact)
        if trigger.is_pull_request:  # answer on each addressed review thread, keep the description whole
            return self._finish("succeeded", finish_followup(
                self.forge, trigger, self.review, head, result.summary, tests, push_branch, self.run_id, self.link,
                self.redactor.redact))
        body = pull_request_body(trigger, result.summary, tests, workspace.diff_stat(self.workdir, self.base_sha), self.link)
        table = f"\n\n### Attempts\n\n{self.attempts_table}\n" if self.attempts_table else ""
        pull = self.forge.open_pull_request(push_branch, base_branch, pull_request_title(text),
                                            self.redactor.redact(body + table))
        runs.update_run(self.conn, self.run_id, pr_url=pull.url)
        verdict = tests.summary() if tests else "no tests were run"
        return self._finish("succeeded", f"opened {pull.url} ({verdict}).{table}")

    def _agent_event(self, line: str) -> None:
        """Each step goes to the log; the tracking comment shows the step, edited at most every 15 s."""
        self.log(line)
        match = re.match(r"step (\d+):", line)
        if match and self.tracking.due(TRACKING_EDIT_SECONDS):
            try:
                self.tracking.show("agent working", detail=f"step {match[1]}")
            except ForgeError as exc:  # a missed progress edit is not worth ending the run for
                self.log(f"could not update the tracking comment: {exc}")

    def progress(self, phase: str, detail: str = "") -> None:
        self.check_cancelled()
        self.log(f"phase: {phase}")
        runs.record_phase(self.conn, self.run_id, phase)
        self.tracking.show(phase, detail)

    def _finish(self, outcome: str, message: str) -> str:
        self.outcome = outcome
        message = self.redactor.redact(message)
        self.log(f"run {outcome}: {message}")
        if self.tracking is not None:
            try:
                self.tracking.show("done", outcome=outcome, message=message)
                self._react(outcome)
            except ForgeError as exc:
                self.log(f"could not report the outcome on the forge: {exc}")
        # final only once the forge shows it: a worker killed before that leaves the run to be retried
        runs.update_run(self.conn, self.run_id, status=outcome, **({"error": message} if outcome == "failed" else {}))
        metrics.record_finished_run(self.conn, runs.load_run(self.conn, self.run_id), outcome)
        return outcome

    def _react(self, outcome: str) -> None:
        task = load_task(self.conn, self.run_id)
        self.forge.react(task.trigger.number, task.trigger.comment_id, "rocket" if outcome == "succeeded" else "confused")

    def check_cancelled(self) -> None:
        who = runs.cancel_requested(self.conn, self.run_id)
        if who is not None:
            raise RunCancelled(f"cancelled by @{who}")

    def log(self, line: str) -> None:
        self.redactor.add(*self.forge_secrets())
        runs.append_log(self.conn, self.run_id, self.redactor.redact(line))

    def _cleanup(self) -> None:
        if self.forge is not None:
            try:
                self.forge.close()
            except ForgeError as exc:
                self.log(f"could not revoke the run's tokens: {exc}")
        try:
            finish_workspace(self.settings, self.workdir, self.outcome != "succeeded", self.log)
        finally:
            if self.claim is not None:
                self.claim.release()
