"""Killed workers, through the real stack: a run is retried or given up, never lost, never twice published.

Real Redis, real `codexbot worker` processes (RQ) killed with SIGKILL, the GitHub and OpenAI emulators;
the scripted model holds its answer until the test has killed the worker that asked.
"""

import json
import subprocess
import sys
import threading
import time

import pytest
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from jobs.host import process_tree
from jobs.intake.accept import control_queue_name, job_id_for
from jobs.host.process_tree import children
from jobs.upkeep.reconcile import Policy, give_up_message, reconcile_runs
from jobs.records.runs import ALL_RUNS, load_run, read_log
from tests import sample_repo
from tests.stack import ROOT, Stack

REPO = sample_repo.REPO
QUICK = Policy(stale_after=2)  # the killed worker's heartbeat counts as stale after 2 s, not RQ's 90 s


class Gate:
    """A script item that answers only once released, so a worker can be killed while the agent waits on it."""

    def __init__(self, item: dict):
        self.item, self.entered, self.released = item, threading.Event(), threading.Event()

    def __call__(self, body: dict) -> dict:
        self.entered.set()
        self.released.wait(60)
        return self.item


@pytest.fixture
def stack(redis_server, redis_conn, tmp_path):
    with Stack(redis_server.url, workdir=tmp_path) as stack:
        stack.killable: list[subprocess.Popen] = []
        try:
            yield stack
        finally:
            for proc in stack.killable:
                kill_tree(proc.pid)
                proc.wait(10)
        assert stack.github.errors == []


def start_worker(stack, tmp_path) -> subprocess.Popen:
    """A `codexbot worker` in its own session, so the test can kill all of it."""
    log = open(tmp_path / f"worker-{len(stack.killable)}.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "cli", "worker"], env=stack.env(), cwd=ROOT,
                            start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
    stack.killable.append(proc)
    return proc


def kill_tree(pid: int) -> None:
    """SIGKILL the whole tree (frozen first, so it cannot grow meanwhile) and see that nothing is left behind."""
    killed = process_tree.kill_tree(pid) - {pid}
    deadline = time.monotonic() + 10
    while any(process_tree.alive(p) for p in killed) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(process_tree.alive(p) for p in killed), "a killed worker left processes behind"


def ask(stack) -> tuple[int, str]:
    number = stack.github.open_issue(REPO, "Tests fail", "`test_add` fails.", user="alice")["number"]
    delivery = stack.github.comment_as("alice", REPO, number, "/codex fix the failing test")
    assert delivery.status == 202, delivery.response
    return number, json.loads(delivery.response)["run_id"]


def succeeded_with_one_pull(stack, redis_conn, run_id: str, attempts: int, timeout: float) -> None:
    """Waits for the run to end: it succeeded on its `attempts`-th attempt and opened exactly one pull request."""
    deadline = time.monotonic() + timeout
    while not load_run(redis_conn, run_id).is_final:
        assert time.monotonic() < deadline, f"the run did not finish within {timeout} s"
        time.sleep(0.2)
    run = load_run(redis_conn, run_id)
    assert run.status == "succeeded" and run.attempts == attempts, "\n".join(read_log(redis_conn, run_id))
    assert len(stack.github.list_pulls(REPO)) == 1


def queues(stack) -> tuple[str, str]:
    return control_queue_name(stack.settings.queue), stack.settings.queue


def kill_worker_while_agent_works(stack, gate: Gate, proc: subprocess.Popen) -> None:
    assert gate.entered.wait(60), "the agent never asked the model"
    kill_tree(proc.pid)
    proc.wait(10)
    gate.released.set()


def test_a_killed_worker_s_run_is_retried_and_opens_one_pull_request(stack, redis_conn, tmp_path):
    gate = Gate(sample_repo.fix_script()[0])
    stack.model.set_script([gate] + sample_repo.fix_script())
    number, run_id = ask(stack)
    kill_worker_while_agent_works(stack, gate, start_worker(stack, tmp_path))
    assert load_run(redis_conn, run_id).status == "running"

    time.sleep(QUICK.stale_after + 0.5)
    actions = reconcile_runs(redis_conn, queues(stack), policy=QUICK)
    assert len(actions) == 1 and run_id in actions[0] and "re-queued" in actions[0], actions
    assert load_run(redis_conn, run_id).status == "queued"
    assert reconcile_runs(redis_conn, queues(stack), policy=QUICK) == []  # a queued job is alive

    proc = stack.run_worker_burst(timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = load_run(redis_conn, run_id)
    assert run.status == "succeeded", "\n".join(read_log(redis_conn, run_id))
    assert run.attempts == 2
    assert len(stack.github.list_pulls(REPO)) == 1
    bot = [c for c in stack.github.comments(REPO, number) if c["user"]["type"] == "Bot"]
    assert len([c for c in bot if f"codexbot:run={run_id}" in c["body"]]) == 1
    job = Job.fetch(job_id_for(run_id), connection=redis_conn, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.FINISHED


def test_a_run_that_keeps_dying_is_given_up_with_a_clear_error(stack, redis_conn, tmp_path):
    first, second = Gate(sample_repo.fix_script()[0]), Gate(sample_repo.fix_script()[0])
    stack.model.set_script([first, second])
    number, run_id = ask(stack)
    kill_worker_while_agent_works(stack, first, start_worker(stack, tmp_path))
    time.sleep(QUICK.stale_after + 0.5)
    assert "re-queued" in " ".join(reconcile_runs(redis_conn, queues(stack), policy=QUICK))

    # the second time only the work horse dies, as when the kernel's OOM killer picks it; its worker lives on
    worker = start_worker(stack, tmp_path)
    assert second.entered.wait(60), "the retried run never reached the agent"
    [horse] = children(worker.pid)
    kill_tree(horse)
    second.released.set()
    job_id = job_id_for(run_id)
    deadline = time.monotonic() + 20
    while Job.fetch(job_id, connection=redis_conn, serializer=JSONSerializer).get_status() != JobStatus.FAILED:
        assert time.monotonic() < deadline, "the worker did not record its work horse's death"
        time.sleep(0.1)

    actions = reconcile_runs(redis_conn, queues(stack), policy=Policy())
    assert len(actions) == 1 and "given up after 2 attempts" in actions[0], actions
    deadline = time.monotonic() + 30  # the live worker takes the last attempt, which only reports it
    while load_run(redis_conn, run_id).status != "failed":
        assert time.monotonic() < deadline, "the given-up run was never reported"
        time.sleep(0.1)
    run = load_run(redis_conn, run_id)
    assert run.error == give_up_message(Policy())
    assert "/codex retry" in run.error and "twice" in run.error
    tracking = [c["body"] for c in stack.github.comments(REPO, number) if f"codexbot:run={run_id}" in c["body"]]
    assert len(tracking) == 1 and "failed" in tracking[0] and "given up" in tracking[0]
    assert len(stack.model.requests) == 2  # the reporting attempt asked the model nothing
    statuses = [load_run(redis_conn, r.decode()).status for r in redis_conn.zrange(ALL_RUNS, 0, -1)]
    assert "running" not in statuses and "queued" not in statuses
    # the record is final a moment before RQ files the job as finished: give the work horse that moment
    deadline = time.monotonic() + 10
    while any(StartedJobRegistry(name, connection=redis_conn).get_job_ids() for name in queues(stack)):
        assert time.monotonic() < deadline, "the reporting attempt's job never finished"
        time.sleep(0.05)
    for name in queues(stack):
        assert StartedJobRegistry(name, connection=redis_conn).get_job_ids() == []
        assert redis_conn.llen(f"rq:queue:{name}") == 0
    assert reconcile_runs(redis_conn, queues(stack), policy=QUICK) == []
    assert stack.github.list_pulls(REPO) == []


def test_a_live_worker_s_running_job_is_never_touched(stack, redis_conn, tmp_path):
    gate = Gate(sample_repo.fix_script()[0])
    stack.model.set_script([gate] + sample_repo.fix_script()[1:])
    number, run_id = ask(stack)
    start_worker(stack, tmp_path)
    assert gate.entered.wait(60), "the agent never asked the model"
    try:
        for _ in range(3):
            assert reconcile_runs(redis_conn, queues(stack)) == []
            assert load_run(redis_conn, run_id).status == "running"
            time.sleep(1)
    finally:
        gate.released.set()
    succeeded_with_one_pull(stack, redis_conn, run_id, attempts=1, timeout=90)
