"""What a run keeps for its page and for replay: the tests (with JUnit cases), the diff and the transcript.

Everything passes through the run's redactor before it is stored: test output and diffs are repository
text the agent may have filled with anything it found.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import redis

from jobs.records import runs
from jobs.repo.junit import collect_reports
from jobs.access.redaction import Redactor
from jobs.repo.delta import TestDelta
from jobs.repo.testing import TestResult


def store_tests(conn: redis.Redis, run_id: str, redactor: Redactor, tests: TestResult, workdir: Path,
                since: float) -> None:
    """The test result, with the cases of any JUnit report the test command wrote after `since`."""
    record = {**tests.to_dict(), "junit": collect_reports(workdir, since - 1)}
    runs.update_run(conn, run_id, tests=json.loads(redactor.redact(json.dumps(record))))


def store_delta(conn: redis.Redis, run_id: str, redactor: Redactor, change: TestDelta | None) -> None:
    """The tests before the change and what changed, beside the tests after it, for the run page."""
    run = runs.load_run(conn, run_id)
    if change is None or run is None or not run.tests:
        return
    before = change.before
    record = {**run.tests, "before": {"passed": before.passed, "failed": before.failed, "errors": before.errors,
                                      "skipped": before.skipped, "exit_code": before.exit_code},
              "fixed": list(change.fixed), "broken": list(change.broken), "still": list(change.still)}
    runs.update_run(conn, run_id, tests=json.loads(redactor.redact(json.dumps(record))))


def store_transcript(conn: redis.Redis, run_id: str, redactor: Redactor, transcript: dict) -> None:
    conn.set(runs.transcript_key(run_id), redactor.redact(json.dumps(transcript)))


def store_outcome(conn: redis.Redis, run_id: str, redactor: Redactor, transcript: dict, diff: str,
                  tests: TestResult | None) -> None:
    """The change for the run page, and the transcript with what `codexbot replay` compares: the diff's
    digest and the test counts."""
    runs.store_diff(conn, run_id, redactor.redact(diff))
    store_transcript(conn, run_id, redactor, record_outcome(transcript, diff, tests))


def record_review(transcript: dict, head: str, base: str, minor: bool, findings: list[list]) -> dict:
    """A review's transcript with what replay needs and compares: the commits it read (its head and the base it
    was compared with), whether minor findings were asked for, and its findings ([path, line, severity, key])."""
    return {**transcript, "outcome": {"review": {"head_sha": head, "base_sha": base, "minor": minor,
                                                 "findings": findings}}}


def diff_digest(diff: str) -> str:
    """A short fingerprint to store with the run instead of the whole diff."""
    return hashlib.sha256(diff.encode()).hexdigest()


def record_outcome(transcript: dict, diff: str, tests: TestResult | None) -> dict:
    """The transcript with what replay compares against: the diff's digest and the test counts."""
    outcome = {"diff_sha256": diff_digest(diff)}
    if tests is not None:
        outcome["tests"] = {"command": tests.command, "exit_code": tests.exit_code, "passed": tests.passed,
                            "failed": tests.failed}
        outcome["test_command"] = tests.command
    return {**transcript, "outcome": outcome}
