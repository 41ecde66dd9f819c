"""A worker killed with SIGKILL in each phase of a run: the run is retried to one pull request, nothing is left over.

The worker is stopped at a known point without sleeps: the emulated GitHub holds one chosen request (the
clone, the tracking comment's edit to a phase, the pull request look-up, the final edit) or the scripted
model holds its answer, until the test has killed the worker's whole process tree.
"""

import os
import signal
import time
from pathlib import Path

import pytest
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from jobs.intake.accept import job_id_for
from jobs.upkeep.reconcile import Policy, reconcile_runs
from jobs.records.runs import ALL_RUNS, load_run, read_log
from tests import sample_repo
from tests.test_faults import (QUICK, Gate, ask, children, kill_tree, queues, stack,  # noqa: F401  (fixture)
                               start_worker, succeeded_with_one_pull)

pytestmark = [pytest.mark.faults, pytest.mark.slow]
REPO = sample_repo.REPO
EDIT = rf"^/repos/{REPO}/issues/comments/\d+$"
HOURGLASS = "\\u23f3"  # the current phase's mark, as it appears in the JSON body of the edit


def phase_edit(phase: str) -> tuple[str, str, str]:
    return ("PATCH", EDIT, f"{phase} {HOURGLASS}")


# phase → the request the worker is held at: (method, path pattern, text in the body), or "model"
PHASES = {
    "checkout": ("POST", rf"^/{REPO}\.git/git-upload-pack$", ""),
    "setup": phase_edit("setting up"),
    "agent": "model",
    "tests": phase_edit("tests"),
    "after push, before the pull request": ("GET", rf"^/repos/{REPO}/pulls$", ""),
    "after the pull request, before the comment update": ("PATCH", EDIT, "succeeded"),
}
CASES = list(PHASES)


def processes_mentioning(text: str, also: str = "") -> list[str]:
    """Command lines of live processes that mention text (a sandbox left behind names the run's directory)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                line = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in line and also in line:
            found.append(f"{entry}: {line[:200]}")
    return found


@pytest.mark.parametrize("phase", CASES)
def test_a_worker_killed_in_each_phase_ends_in_one_pull_request_and_leaves_nothing(stack, redis_conn, tmp_path,
                                                                                     phase):
    where = PHASES[phase]
    if where == "model":
        gate = Gate(sample_repo.fix_script()[0])
        stack.model.set_script([gate] + sample_repo.fix_script())
        reached, release = gate.entered.wait, gate.released.set
    else:
        stack.model.set_script(sample_repo.fix_script() * 2)  # a retry after the agent asks the model again
        method, path, contains = where
        held = stack.github.faults.hold(method, path, contains=contains)
        reached, release = held.wait_entered, lambda: held.release(deliver=False)
    number, run_id = ask(stack)
    worker = start_worker(stack, tmp_path)
    try:
        assert reached(60), f"the worker never reached the {phase} phase"
        kill_tree(worker.pid)
        worker.wait(10)
    finally:
        release()  # a held forge request never reaches the emulator: its sender is dead
    assert load_run(redis_conn, run_id).status == "running"
    workdir = Path(stack.settings.data_dir)
    assert processes_mentioning(str(workdir)) == [], "a sandbox process outlived its worker"

    time.sleep(QUICK.stale_after + 0.5)  # the dead worker's heartbeat must age past the policy's limit
    actions = reconcile_runs(redis_conn, queues(stack), policy=QUICK)
    assert len(actions) == 1 and "re-queued" in actions[0], actions
    proc = stack.run_worker_burst(timeout=150)
    assert proc.returncode == 0, proc.stderr[-3000:]

    run, log = load_run(redis_conn, run_id), "\n".join(read_log(redis_conn, run_id))
    assert run.status == "succeeded" and run.attempts == 2, log
    assert len(stack.github.list_pulls(REPO)) == 1
    tracking = [c["body"] for c in stack.github.comments(REPO, number) if f"codexbot:run={run_id}" in c["body"]]
    assert len(tracking) == 1 and "succeeded" in tracking[0]
    statuses = [load_run(redis_conn, r.decode()).status for r in redis_conn.zrange(ALL_RUNS, 0, -1)]
    assert "running" not in statuses and "queued" not in statuses
    assert not (workdir / "workspaces" / run_id).exists(), "the run's workspace was left behind"
    assert processes_mentioning(str(workdir)) == []


def test_a_work_horse_killed_while_its_sandbox_runs_leaves_no_sandbox_process(stack, redis_conn, tmp_path):
    """Only the work horse dies (as when the OOM killer picks it): bwrap's --die-with-parent takes the sandbox along."""
    hang = {"tool_calls": [{"name": "shell", "arguments": {"command": "sleep 300"}}]}
    stack.model.set_script([hang] + sample_repo.fix_script())
    number, run_id = ask(stack)
    worker = start_worker(stack, tmp_path)
    workdir = str(Path(stack.settings.data_dir) / "workspaces" / run_id)
    deadline = time.monotonic() + 60
    while not processes_mentioning(workdir, also="sleep 300"):
        assert time.monotonic() < deadline, "the sandbox never ran the command"
        time.sleep(0.05)
    [horse] = children(worker.pid)
    os.kill(horse, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while processes_mentioning(workdir):
        assert time.monotonic() < deadline, f"sandbox processes outlived the work horse: {processes_mentioning(workdir)}"
        time.sleep(0.05)

    job_id = job_id_for(run_id)
    while Job.fetch(job_id, connection=redis_conn, serializer=JSONSerializer).get_status() != JobStatus.FAILED:
        assert time.monotonic() < deadline + 20, "the worker did not record its work horse's death"
        time.sleep(0.1)
    actions = reconcile_runs(redis_conn, queues(stack), policy=Policy())
    assert len(actions) == 1 and "re-queued" in actions[0], actions
    succeeded_with_one_pull(stack, redis_conn, run_id, attempts=2, timeout=120)  # the live worker's second attempt
    deadline = time.monotonic() + 20  # the run is recorded final just before its workspace is removed
    while Path(workdir).exists():
        assert time.monotonic() < deadline, "the run's workspace was left behind"
        time.sleep(0.1)
