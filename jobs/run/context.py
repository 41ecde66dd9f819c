"""What every step of one server run shares: its redacted log, the forge, the tracking comment, and its end."""

from __future__ import annotations

import re
from typing import Callable, Iterable

from jobs import metrics
from jobs.access.redaction import Redactor, settings_secrets
from jobs.forges.base import Forge, ForgeError
from jobs.records import runs
from jobs.records.results import store_tests, store_transcript
from jobs.repo.testing import TestResult
from jobs.report.tracking import NoTracking, TrackingComment
from jobs.run.cancellation import RunCancelled
from jobs.settings import Services
from jobs.types import Task

TRACKING_EDIT_SECONDS = 15  # a long run must not hit the forge's secondary rate limits with edits


class RunJournal:
    """A run's log and final record in Redis; every line is redacted with every secret the run knows."""

    def __init__(self, services: Services, run_id: str):
        self.conn, self.run_id = services.redis, run_id
        self.redactor = Redactor()
        self.redactor.add(*settings_secrets(services.settings))  # every secret setting, the App key's lines too
        self.secret_sources: list[Callable[[], Iterable[str]]] = []
        self.outcome = "failed"  # until recorded otherwise; decides whether the workspace is kept

    def watch_secrets(self, source: Callable[[], Iterable[str]]) -> None:
        """Secrets minted during the run (installation tokens) are asked for before each line is written."""
        self.secret_sources.append(source)

    def redact(self, text: str) -> str:
        return self.redactor.redact(text)

    def log(self, line: str) -> None:
        for source in self.secret_sources:
            self.redactor.add(*source())
        runs.append_log(self.conn, self.run_id, self.redactor.redact(line))

    def record_end(self, outcome: str, message: str) -> str:
        self.outcome = outcome
        runs.update_run(self.conn, self.run_id, status=outcome, **({"error": message} if outcome == "failed" else {}))
        metrics.record_finished_run(self.conn, runs.load_run(self.conn, self.run_id), outcome)
        return outcome


class RunContext:
    """One run in progress on the server: its task, its forge and how it reports (also its AttemptEvents)."""

    def __init__(self, services: Services, task: Task, journal: RunJournal, forge: Forge,
                 tracking: TrackingComment | NoTracking, link: str):
        self.services, self.settings, self.conn = services, services.settings, services.redis
        self.task, self.run_id = task, task.run_id
        self.journal, self.forge, self.tracking = journal, forge, tracking
        self.link = link  # the signed run page link, as the tracking comment shows it
        self.workdir = services.workspaces / task.run_id
        self.on_thread = task.trigger.delegation is None  # a delegated run has no issue to react on

    def for_task(self, task: Task) -> RunContext:
        """The same run answering another task of its thread (a retry runs the task it retries)."""
        return RunContext(self.services, task, self.journal, self.forge, self.tracking, self.link)

    def log(self, line: str) -> None:
        self.journal.log(line)

    def redact(self, text: str) -> str:
        return self.journal.redact(text)

    def check_cancelled(self) -> None:
        who = runs.cancel_requested(self.conn, self.run_id)
        if who is not None:
            raise RunCancelled(f"cancelled by @{who}")

    def progress(self, phase: str, detail: str = "") -> None:
        self.check_cancelled()
        self.log(f"phase: {phase}")
        runs.record_phase(self.conn, self.run_id, phase)
        self.tracking.show(phase, detail)

    def react(self, content: str) -> None:
        if self.on_thread:
            self.forge.react(self.task.trigger.number, self.task.trigger.comment_id, content)

    def agent_event(self, line: str) -> None:
        """Each step goes to the log; the tracking comment shows the step, edited at most every 15 s."""
        self.log(line)
        match = re.match(r"step (\d+):", line)
        if match and self.tracking.due(TRACKING_EDIT_SECONDS):
            try:
                self.tracking.show("agent working", detail=f"step {match[1]}")
            except ForgeError as exc:  # a missed progress edit is not worth ending the run for
                self.log(f"could not update the tracking comment: {exc}")

    def finish(self, outcome: str, message: str, excerpt: str = "", attention: bool = False) -> str:
        """Show the outcome on the forge, then record it: a worker killed in between leaves the run to retry.
        `excerpt`: output that explains a failure (a setup command's last lines), shown under the sentence;
        `attention`: the change is there but its tests fail, so no 🚀."""
        message = self.redact(message)
        self.log(f"run {outcome}: {message}")
        try:
            self.tracking.show("done", detail=self.redact(excerpt), outcome=outcome, message=message,
                               attention=attention)
            self.react("rocket" if outcome == "succeeded" and not attention else "confused")
        except ForgeError as exc:
            self.log(f"could not report the outcome on the forge: {exc}")
        return self.journal.record_end(outcome, message)

    # AttemptEvents: what the attempt reports, kept for the run page and replay
    def phase(self, name: str) -> None:
        self.progress(name)

    def transcript(self, transcript: dict) -> None:
        store_transcript(self.conn, self.run_id, self.journal.redactor, transcript)

    def tests(self, tests: TestResult, started: float) -> None:
        store_tests(self.conn, self.run_id, self.journal.redactor, tests, self.workdir, started)
