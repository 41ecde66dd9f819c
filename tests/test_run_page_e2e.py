"""The run page after a real run through the stack: phases with durations, the transcript, JUnit test cases,
and the highlighted diff, all written by the worker's pipeline (needs the pipeline's record_phase, store_diff
and collect_reports calls)."""

from __future__ import annotations

import json
import re

import requests

from jobs.access.links import sign_run_link
from jobs.records.runs import load_run, read_log
from tests import sample_repo

REPO = sample_repo.REPO
CONFIG = '[test]\ncommand = "python3 -m pytest -q --junitxml=junit.xml"\n'


def test_a_finished_run_page_shows_what_the_pipeline_recorded(stack, redis_conn):
    stack.github.commit_files(REPO, "main", {".codexbot.toml": CONFIG}, "Write JUnit reports")
    number = stack.github.open_issue(REPO, "Tests fail", "", user="alice")["number"]
    run_id = json.loads(stack.github.comment_as("alice", REPO, number, "/codex fix the failing test").response)["run_id"]
    proc = stack.run_worker_burst()
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = load_run(redis_conn, run_id)
    assert run.status == "succeeded", "\n".join(read_log(redis_conn, run_id))

    page = requests.get(sign_run_link(stack.web.url, stack.settings.secret_key, run_id), timeout=10).text
    timeline = page[page.index('id="timeline"'):page.index('id="tests"')]
    assert re.findall(r"<tr class=\"\"><td>([a-z ]+)</td>", timeline) == [
        "queued", "checking out", "setting up", "agent working", "tests", "publishing"]
    assert 'class="gi">+    return a + b' in page  # pygments marks the inserted line
    assert re.search(r"<td>tests\.test_calc\.test_add</td><td class=\"passed\">passed", page)
    assert "Let me run the tests first." in page and "write_file" in page
    branch = stack.github.list_pulls(REPO)[0]["head"]["ref"]
    assert stack.github.read_file_at(REPO, branch, "junit.xml") is None  # the report stays out of the PR
