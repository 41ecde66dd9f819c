"""The boundary of an RQ job that answers a run: load it, mark it running, open it, and turn how it ended
into an outcome people see. RQ runs a job at least once, so a finished run's job does nothing."""

from __future__ import annotations

import traceback
from typing import Callable

from jobs.access.links import sign_run_link
from jobs.agent.model import ModelError
from jobs.forges.base import ForgeError
from jobs.git import workspace
from jobs.git.checkout import finish_workspace
from jobs.git.cleanup import WorkspaceClaim
from jobs.intake.accept import load_task
from jobs.records import runs
from jobs.repo.config import RepoConfigError
from jobs.report.tracking import NoTracking, TrackingComment
from jobs.run.attempt import SetupFailed
from jobs.run.authorize import check_delegation_token
from jobs.run.cancellation import RunCancelled, RunFailed
from jobs.run.context import RunContext, RunJournal
from jobs.run.wiring import connect_forge
from jobs.sandbox import SandboxCancelled, SandboxError
from jobs.settings import Services
from jobs.settings import SettingsError
from jobs.types import Task

MAX_DETAILS = 4000
KNOWN_FAILURES = (ForgeError, workspace.WorkspaceError, ModelError, RepoConfigError, SandboxError, SettingsError,
                  SetupFailed)


def run_job(services: Services, run_id: str, body: Callable[[RunContext], str], *, claims_workspace: bool) -> str:
    """Run body for the stored run once; every known failure ends the run with its one sentence."""
    conn = services.redis
    task, record = load_task(conn, run_id), runs.load_run(conn, run_id)
    if task is None or record is None:
        raise LookupError(f"run {run_id} has no stored task: it expired or was never recorded")
    if record.is_final:
        return record.status  # RQ ran the job again: the work is done
    # before the run is marked running: a second copy of a run in progress here stops without touching it
    claim = WorkspaceClaim(services.workspaces / run_id) if claims_workspace else None
    runs.update_run(conn, run_id, status="running", attempts=record.attempts + 1)
    journal = RunJournal(services, run_id)
    run: RunContext | None = None
    try:
        run = open_run(services, task, record, journal)
        if record.given_up:  # reconciliation gave up on it: only tell the people waiting
            return run.finish("failed", record.given_up)
        return body(run)
    except (RunCancelled, SandboxCancelled) as exc:
        return _end(run, journal, "cancelled", str(exc))
    except (RunFailed, *KNOWN_FAILURES) as exc:
        details = getattr(exc, "details", "")  # a model server's whole answer: the log, never the comment
        if details:
            journal.log(f"what the model server answered:\n{str(details)[:MAX_DETAILS]}")
        return _end(run, journal, "failed", str(exc), getattr(exc, "excerpt", ""))
    except Exception as exc:  # the job boundary: say so on the issue, then let RQ record it
        journal.log("internal error:\n" + traceback.format_exc())
        _end(run, journal, "failed", f"codexbot hit an internal error ({type(exc).__name__}); the run log has details")
        raise
    finally:
        _close(services, run, journal, claim)


def open_run(services: Services, task: Task, record: runs.Run, journal: RunJournal) -> RunContext:
    """The run's forge (credentials for this repository only) and its tracking comment."""
    trigger = task.trigger
    if trigger.delegation is not None:
        check_delegation_token(services, trigger)
    forge, secrets = connect_forge(services, trigger, journal.log)
    journal.watch_secrets(secrets)
    link = sign_run_link(services.settings.public_url, services.settings.secret_key, task.run_id)
    if trigger.delegation is not None:  # no issue to comment on: the log and `codexbot status` show progress
        return RunContext(services, task, journal, forge, NoTracking(), link)
    tracking = TrackingComment(forge, trigger.number, task.run_id, link, journal.redact, record.tracking_comment_id,
                               lambda cid: runs.update_run(services.redis, task.run_id, tracking_comment_id=cid))
    return RunContext(services, task, journal, forge, tracking, link)


def _end(run: RunContext | None, journal: RunJournal, outcome: str, message: str, excerpt: str = "") -> str:
    if run is not None:
        return run.finish(outcome, message, excerpt)
    message = journal.redact(message)
    journal.log(f"run {outcome}: {message}")
    return journal.record_end(outcome, message)


def _close(services: Services, run: RunContext | None, journal: RunJournal, claim: WorkspaceClaim | None) -> None:
    if run is not None:
        try:
            run.forge.close()
        except ForgeError as exc:
            journal.log(f"could not revoke the run's tokens: {exc}")
    if claim is None:
        return
    try:
        finish_workspace(services.settings, services.workspaces / journal.run_id, journal.outcome != "succeeded",
                         journal.log)
    finally:
        claim.release()
