"""Answers to the control commands (`/codex help`, `status`, `cancel`) in their own job, which never claims a
workspace; the reply to a run over a rate limit; and the task a `/codex retry` runs again."""

from __future__ import annotations

import time
from dataclasses import replace

import redis
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from jobs.access.links import sign_run_link
from jobs.forges.base import Forge
from jobs.intake.accept import job_id_for, load_task
from jobs.intake.rate_limits import RateLimits, over_limit_message
from jobs.records import runs
from jobs.report.tracking import marker, render_help
from jobs.run.authorize import authorize, confirm_request
from jobs.run.cancellation import RunFailed
from jobs.run.context import RunContext
from jobs.run.job import run_job
from jobs.run.wiring import make_forge
from jobs.settings import current
from jobs.settings import Settings
from jobs.types import Task

MAX_LISTED = 5


def answer_control(run_id: str) -> str:
    """The RQ job of `/codex help`, `status` and `cancel`: one reply on the thread, nothing checked out."""
    return run_job(current(), run_id, answer, claims_workspace=False)


def answer(run: RunContext) -> str:
    trigger = run.task.trigger
    confirm_request(run.forge, trigger, run.settings.command, run.settings.label)
    if trigger.command.kind == "cancel":  # stopping other people's runs takes the permission to start them
        authorize(run.services, run.forge, trigger, run.run_id)
    reply_to_control_command(run.forge, run.conn, run.task, run.settings)
    runs.update_run(run.conn, run.run_id, status="succeeded", summary=f"answered /{trigger.command.kind}")
    return "succeeded"

def reply_to_control_command(forge: Forge, conn: redis.Redis, task: Task, settings: Settings) -> None:
    """Post one reply for the command, once: a retried job finds its reply by the run's marker."""
    trigger, command = task.trigger, task.trigger.command
    if forge.find_comment(trigger.number, marker(task.run_id)) is not None:
        return
    if command.kind == "status":
        text = render_status(conn, task, settings)
    elif command.kind == "cancel":
        text = cancel_thread(conn, task)
    else:
        text = render_help(settings.command, command.errors, command.notes)
    forge.comment(trigger.number, f"{marker(task.run_id)}\n@{trigger.author} {text}")


def reply_over_limit(run_id: str) -> str:
    """The RQ job queued instead of a run over a rate limit: one comment saying so, then the run is failed."""
    services = current()
    conn, settings = services.redis, services.settings
    task, record = load_task(conn, run_id), runs.load_run(conn, run_id)
    if task is None or record is None or record.is_final:
        return "nothing to do"
    text = over_limit_message(conn, task.trigger, RateLimits.from_settings(settings), settings.command)
    if task.trigger.source == "api":  # sent from a terminal: no thread to answer on; the API shows the error
        runs.update_run(conn, run_id, status="failed", error=text)
        return "failed"
    forge, _ = make_forge(services, task.trigger)
    try:
        if forge.find_comment(task.trigger.number, marker(run_id)) is None:
            forge.comment(task.trigger.number, f"{marker(run_id)}\n@{task.trigger.author} {text}")
    finally:
        forge.close()
    runs.update_run(conn, run_id, status="failed", error=text)
    return "failed"


def earlier_runs(conn: redis.Redis, task: Task) -> list[runs.Run]:
    """The runs asked for on this issue or pull request before this one, newest first."""
    t = task.trigger
    ids = [rid for rid in runs.runs_on_thread(conn, t.forge, t.repo, t.number) if rid != task.run_id]
    found = [runs.load_run(conn, rid) for rid in reversed(ids)]
    return [run for run in found if run is not None and run.trigger.get("command") in ("task", "retry")]


def latest_task(conn: redis.Redis, task: Task) -> Task | None:
    """The last task asked for on this issue or pull request before this one (for `/codex retry`)."""
    for run in earlier_runs(conn, task):
        earlier = load_task(conn, run.run_id)
        if earlier is not None and earlier.trigger.command.kind == "task":
            return earlier
    return None


def render_status(conn: redis.Redis, task: Task, settings: Settings) -> str:
    listed = earlier_runs(conn, task)[:MAX_LISTED]
    if not listed:
        return "no codexbot run has been asked for here yet."
    lines = ["the runs asked for here, newest first:", ""]
    for run in listed:
        link = sign_run_link(settings.public_url, settings.secret_key, run.run_id)
        result = run.pr_url or run.error or run.summary[:120]
        lines.append(f"- `{run.run_id[:8]}` **{run.status}**, asked by @{run.requester} {_ago(run.created_at)}"
                     + (f": {result}" if result else "") + f" · [log]({link})")
    return "\n".join(lines)


def cancel_thread(conn: redis.Redis, task: Task) -> str:
    """Stop every unfinished run on this issue: queued ones never start, running ones stop at the next step."""
    active = [run for run in earlier_runs(conn, task) if not run.is_final]
    if not active:
        return "there is no queued or running codexbot run here to cancel."
    for run in active:
        runs.request_cancel(conn, run.run_id, task.trigger.author)
        if run.status == "queued":
            _cancel_queued(conn, run.run_id, task.trigger.author)
    names = ", ".join(f"`{run.run_id[:8]}`" for run in active)
    return f"cancelling {names}: queued runs will not start, a running one stops after its current step."


def _cancel_queued(conn: redis.Redis, run_id: str, by: str) -> None:
    try:
        Job.fetch(job_id_for(run_id), connection=conn, serializer=JSONSerializer).cancel()
    except (NoSuchJobError, InvalidJobOperation):
        return  # a worker took it meanwhile: it sees the cancel request at its next phase
    runs.update_run(conn, run_id, status="cancelled", error=f"cancelled by @{by} before it started")


def _ago(ts: float) -> str:
    minutes = int((time.time() - ts) // 60)
    if minutes < 1:
        return "just now"
    return f"{minutes} min ago" if minutes < 120 else f"{minutes // 60} h ago"


def task_to_retry(conn: redis.Redis, task: Task, command_word: str) -> tuple[Task, str]:
    """`/codex retry`: the latest task asked for here, to run again under this run's id, and that run's id."""
    retried = latest_task(conn, task)
    if retried is None:
        raise RunFailed(f"there is no earlier task here to retry: ask for one with {command_word} <task>")
    return replace(task, trigger=replace(task.trigger, command=retried.trigger.command)), retried.run_id
