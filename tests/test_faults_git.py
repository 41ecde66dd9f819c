"""Git and disk faults through the real stack: a repository that cannot be cloned, a push refused because the
branch moved, a full disk under the data dir: each run ends failed with one sentence, once, with no retry loop.
"""

import json
import os
import subprocess
import sys

import pytest
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from jobs.intake.accept import job_id_for
from jobs.records.runs import load_run, read_log
from tests import sample_repo
from tests.stack import ROOT, Stack

pytestmark = [pytest.mark.faults, pytest.mark.slow]
REPO = sample_repo.REPO
EDIT = rf"^/repos/{REPO}/issues/comments/\d+$"


def comment(stack, number: int) -> str:
    delivery = stack.github.comment_as("alice", REPO, number, "/codex fix the failing test")
    assert delivery.status == 202, delivery.response
    return json.loads(delivery.response)["run_id"]


def failed_once(stack, redis_conn, number: int, run_id: str) -> str:
    """Runs the queue dry; the run failed on its first attempt, its job ended normally, the issue says why."""
    proc = stack.run_worker_burst(timeout=150)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = load_run(redis_conn, run_id)
    assert run.status == "failed" and run.attempts == 1, "\n".join(read_log(redis_conn, run_id))
    job = Job.fetch(job_id_for(run_id), connection=redis_conn, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.FINISHED  # nothing for RQ or reconciliation to retry
    tracking = [c["body"] for c in stack.github.comments(REPO, number) if f"codexbot:run={run_id}" in c["body"]]
    assert len(tracking) == 1 and "failed" in tracking[0] and run.error in tracking[0]
    assert run.error.count(". ") == 0 and len(run.error) < 400, run.error  # one sentence
    return run.error


@pytest.mark.parametrize("status", [404, 403])
def test_a_repository_that_cannot_be_cloned_fails_the_run_once_with_one_sentence(stack, redis_conn, status):
    refused = stack.github.faults.fail("GET", rf"^/{REPO}\.git/info/refs$", status, times=20,
                                       body="Repository not found" if status == 404 else "Permission denied")
    number = stack.github.open_issue(REPO, "Tests fail", "", user="alice")["number"]
    run_id = comment(stack, number)
    error = failed_once(stack, redis_conn, number, run_id)
    assert refused.hits >= 1 and error.startswith("the repository could not be fetched because the forge"), error
    assert ("does not exist" if status == 404 else "refused access") in error and "GitHub App" in error
    assert stack.model.requests == [] and stack.github.list_pulls(REPO) == []


def test_a_push_refused_because_the_branch_moved_fails_the_run_with_what_to_do(stack, redis_conn):
    stack.github.commit_files(REPO, "feature", {"NOTES.md": "notes\n"}, "Add notes")
    pull = stack.github.open_pull(REPO, "feature", "Add notes")
    held = stack.github.faults.hold("PATCH", EDIT, contains="publishing \\u23f3")
    run_id = comment(stack, pull["number"])
    worker = subprocess.Popen([sys.executable, "-m", "cli", "worker", "--burst"], env=stack.env(), cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        assert held.wait_entered(90), "the run never reached publishing"
        moved = stack.github.commit_files(REPO, "feature", {"OTHER.md": "someone else\n"}, "Someone pushed")
        held.release()
        assert worker.wait(120) == 0
    finally:
        held.release()
        if worker.poll() is None:
            worker.kill()
    run = load_run(redis_conn, run_id)
    assert run.status == "failed" and "rejected because the branch moved" in run.error, run.error
    assert stack.github.branch_head(REPO, "feature") == moved  # never overwritten
    tracking = [c["body"] for c in stack.github.comments(REPO, pull["number"]) if f"codexbot:run={run_id}" in c["body"]]
    assert len(tracking) == 1 and "branch moved" in tracking[0]


@pytest.fixture
def tiny_data_dir(tmp_path):
    """A 256 KB tmpfs where the stack keeps its data: full after a few files."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs as the data dir needs root")
    mount = tmp_path / "data"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_fails_the_run_once_with_one_sentence(redis_server, redis_conn, tmp_path, tiny_data_dir):
    with Stack(redis_server.url, workdir=tmp_path) as stack:
        assert stack.settings.data_dir == str(tiny_data_dir)
        big = {"tool_calls": [{"name": "shell", "arguments": {"command": "head -c 1000000 /dev/zero > big.bin"}}]}
        stack.model.set_script([big] + sample_repo.fix_script())
        number = stack.github.open_issue(REPO, "Tests fail", "", user="alice")["number"]
        run_id = comment(stack, number)
        proc = stack.run_worker_burst(timeout=150)
        assert proc.returncode == 0, proc.stderr[-3000:]
        run, log = load_run(redis_conn, run_id), "\n".join(read_log(redis_conn, run_id))
        assert run.status == "failed" and run.attempts == 1, log
        assert "the disk under CODEXBOT_DATA_DIR is full" in run.error and "free space there" in run.error
        assert "No space left on device" in json.dumps(stack.model.requests) + log
        tracking = [c["body"] for c in stack.github.comments(REPO, number) if f"codexbot:run={run_id}" in c["body"]]
        assert len(tracking) == 1 and run.status in tracking[0]
        assert stack.github.errors == []
