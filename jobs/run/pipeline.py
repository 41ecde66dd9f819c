"""One run from a queued task to its answer, top to bottom as in DESIGN.md: `run_pipeline(start, finish)`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

from jobs.agent.loop import Agent, AgentResult
from jobs.agent.model import ModelError
from jobs.records import runs
from jobs.repo.config import RepoConfig
from jobs.run import best_of
from jobs.run.attempt import AttemptPlan, AttemptResult, run_attempt
from jobs.run.authorize import authorize, confirm_request
from jobs.run.cancellation import RunFailed, cancel_reason, cancel_watch
from jobs.run.context import RunContext
from jobs.run.control import task_to_retry
from jobs.run.finish import BOT_IDENTITY, Finish, commit_message_for, publish
from jobs.run.job import run_job
from jobs.run.locks import lock_key, pull_request_lock
from jobs.run.start import Prepared, Start, prepare, read_setup_secrets
from jobs.run.warm import Environments
from jobs.run.wiring import build_agent, log_refusal, make_sandbox, network_policy, sandbox_limits
from jobs.sandbox import Sandbox
from jobs.settings import current


def run_task(run_id: str) -> str:
    """The RQ job of a task (a comment, a label, `/codex retry`, a delegated run): carries only the run id."""
    return run_job(current(), run_id, run_requested, claims_workspace=True)


def run_requested(run: RunContext) -> str:
    """Who asked is checked, a retry becomes its task again, and one run at a time writes to a pull request."""
    trigger = run.task.trigger
    confirm_request(run.forge, trigger, run.settings.command, run.settings.label)
    authorize(run.services, run.forge, trigger, run.run_id)
    if trigger.command.kind == "retry":
        task, earlier = task_to_retry(run.conn, run.task, run.settings.command)
        run = run.for_task(task)
        run.log(f"retrying run {earlier}")
    run.react("eyes")
    start, finish = Start.of(run.task.trigger), Finish.of(run.task.trigger)
    if start.kind != "pull_request":
        return run_pipeline(run, start, finish)
    key = lock_key(trigger.forge, trigger.repo, trigger.number)
    with pull_request_lock(run.conn, key, run.run_id, run.settings.job_timeout, lambda holder: _wait_behind(run, holder),
                           run.check_cancelled):
        return run_pipeline(run, start, finish)


def run_pipeline(run: RunContext, start: Start, finish: Finish) -> str:
    """Check out where the change starts, make it (once, or best of N), and put it where it goes."""
    run.progress("checking out")
    prepared = prepare(run, start)
    plan = AttemptPlan(run.workdir, prepared.base_sha, prepared.config, prepared.task_text,
                       commit_message_for(finish, run.task.trigger, run.redact), BOT_IDENTITY,
                       max_diff_bytes=run.settings.max_diff_bytes, setup_env=read_setup_secrets(run, prepared),
                       environments=Environments(Path(run.settings.data_dir) / "environments",
                                                 run.settings.env_cache_bytes),
                       fresh=run.task.trigger.command.fresh, keep_environment=start.kind == "default_branch",
                       environment_scope=f"{run.task.trigger.forge}:{run.task.trigger.repo}")
    count = run.task.trigger.command.attempts
    if count > 1 and start.kind == "default_branch":
        result, table = _best_of(run, prepared, plan, count)
    else:
        result, table = _attempt(run, plan), ""
    _record_agent(run, result.agent)
    run.progress("publishing")
    failing = result.tests_failing  # a draft, and not 🚀: someone must look
    return run.finish("succeeded", publish(run, prepared, result, finish, table), attention=failing)


def _attempt(run: RunContext, plan: AttemptPlan) -> AttemptResult:
    sandbox = make_sandbox(run.settings.sandbox, plan.workdir, fence=network_policy(run.settings, plan.config, run.log),
                           on_refused=log_refusal(run.log, run.conn), limits=sandbox_limits(run.settings))
    with cancel_watch(run.conn, run.run_id, sandbox):
        try:
            result = run_attempt(plan, sandbox, lambda box: _agent(run, plan.config, box), run)
            if sandbox.disk_exceeded:  # it stopped the agent; what a run over its quota left is not published
                raise RunFailed(sandbox.disk_exceeded)
            return result
        except ModelError as error:  # what the agent used before the model failed still counts
            if error.partial is not None:
                _record_agent(run, error.partial)
            raise
        finally:
            sandbox.close()


def _best_of(run: RunContext, prepared: Prepared, plan: AttemptPlan, count: int) -> tuple[AttemptResult, str]:
    """`--attempts N`: N independent attempts at once; the chosen one's change lands in this workspace."""
    run.progress("agent working", detail=f"{count} attempts in parallel")
    models = run.task.trigger.command.models
    trials = best_of.Trials(run.settings, prepared.repo, run.forge.git_credentials(write=False), prepared.base_branch,
                            plan, lambda box, log, k: _agent(run, plan.config, box, log, models[k - 1] if models else None),
                            run.conn, run.run_id, models)
    root = run.services.workspaces.parent / "attempts" / run.run_id
    result, table = best_of.best_of(trials, root, count, run.log)
    run.check_cancelled()
    if result is None:
        raise RunFailed(f"none of the {count} attempts produced a change; the run log compares them")
    run.transcript(result.agent.transcript)
    return result, table


def _agent(run: RunContext, config: RepoConfig, sandbox: Sandbox, log: Callable[[str], None] | None = None,
           model: str | None = None) -> Agent:
    """The agent with the run's model and limits; `--model` on the command wins over CODEXBOT_MODEL, and an
    attempt of `--models` has its own."""
    command = run.task.trigger.command
    command = replace(command, model=model) if model else command
    return build_agent(run.settings, command, config, sandbox, log or run.agent_event,
                       lambda: cancel_reason(run.conn, run.run_id))


def _record_agent(run: RunContext, agent: AgentResult) -> None:
    runs.update_run(run.conn, run.run_id, summary=run.redact(agent.summary),
                    usage={"prompt_tokens": agent.prompt_tokens, "completion_tokens": agent.completion_tokens,
                           "steps": agent.steps, "cost": round(agent.cost, 4)})


def _wait_behind(run: RunContext, holder: str) -> None:
    run.log(f"waiting for run {holder} on this pull request to finish: one run writes to a branch at a time")
    run.progress("queued", detail=f"behind run {holder[:8]}")
