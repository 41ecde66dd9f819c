"""Cancel and retry asked for on the run page: the same mechanisms as `/codex cancel` and `/codex retry`."""

from __future__ import annotations

import time
from dataclasses import replace

from rq import Queue

from jobs.records import runs
from jobs.intake.accept import Intake, accept_trigger, load_task
from jobs.intake.rate_limits import RateLimits
from jobs.types import Command

RETRY_DEDUP_SECONDS = 10  # a double click within this window starts one retry, not two


class ActionRefused(ValueError):
    """The run cannot be cancelled or retried as asked; the message says why."""


def cancel_run(conn, run_id: str, by: str) -> None:
    """Ask the run to stop: the worker checks between phases and the agent at every step."""
    run = runs.load_run(conn, run_id)
    if run is None or run.is_final:
        raise ActionRefused(f"run {run_id} is already over: there is nothing to cancel")
    runs.request_cancel(conn, run_id, by)


def retry_run(queue: Queue, run_id: str, by: str, job_timeout: int, now: float | None = None,
              slots: int = 0, limits: RateLimits | None = None) -> Intake:
    """A `/codex retry` by `by` on the run's issue or pull request, as if they had commented it.

    The worker checks their permission through the forge API, as for a comment."""
    task = load_task(queue.connection, run_id)
    if task is None or task.trigger.delegation is not None:
        raise ActionRefused(f"run {run_id} was not asked for on an issue or pull request, so it cannot be retried here")
    trigger = replace(task.trigger, author=by, command=Command("retry"), comment_id=None,
                      review_id=None, review_comment_id=None)
    window = int((time.time() if now is None else now) // RETRY_DEDUP_SECONDS)
    return accept_trigger(queue, trigger, f"web-retry-{run_id}-{by}-{window}", job_timeout=job_timeout, slots=slots,
                          limits=limits)
