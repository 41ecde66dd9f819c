"""Per-repository slots: a busy repository's backlog waits in RQ's rate-limit registry, not ahead of everyone."""

from __future__ import annotations

from rq.job import Job, JobStatus
from rq.rate_limit import RateLimitRegistry, release_slot
from rq.serializers import JSONSerializer

from jobs.intake.fairness import heal_slots, slot_key, waiting_count
from jobs.intake.accept import accept_trigger, job_id_for, make_queue
from jobs.types import Command, Trigger

BUSY, QUIET = "octo/busy", "octo/quiet"


def trigger(repo: str, kind: str = "task", number: int = 1) -> Trigger:
    return Trigger(forge="github", event="issue_comment", source="comment", repo=repo, repo_id=1, number=number,
                   is_pull_request=False, title="t", author="alice", installation_id=1,
                   command=Command(kind=kind, text="fix it" if kind == "task" else ""))


def queued_ids(queue) -> list[str]:
    return [raw.decode() for raw in queue.connection.lrange(queue.key, 0, -1)]


def test_a_busy_repository_holds_only_its_slots_on_the_queue(redis_conn):
    queue = make_queue(redis_conn, "codexbot")
    busy = [accept_trigger(queue, trigger(BUSY, number=n), f"b{n}", job_timeout=60, slots=2) for n in range(1, 6)]
    quiet = accept_trigger(queue, trigger(QUIET), "q1", job_timeout=60, slots=2)
    assert queued_ids(queue) == [job_id_for(i.run_id) for i in (busy[0], busy[1], quiet)]
    assert waiting_count(redis_conn, trigger(BUSY)) == 3
    waiting = Job.fetch(job_id_for(busy[2].run_id), connection=redis_conn, serializer=JSONSerializer)
    assert waiting.get_status() == JobStatus.RATE_LIMITED


def test_a_finished_run_hands_its_slot_to_the_oldest_waiting_one(redis_conn):
    queue = make_queue(redis_conn, "codexbot")
    busy = [accept_trigger(queue, trigger(BUSY, number=n), f"b{n}", job_timeout=60, slots=1) for n in range(1, 4)]
    first = queue.dequeue_any([queue], None, connection=redis_conn, serializer=JSONSerializer)[0]
    first.set_status(JobStatus.FINISHED)
    release_slot(first)  # what RQ's worker does when a job ends
    assert queued_ids(queue) == [job_id_for(busy[1].run_id)]
    assert waiting_count(redis_conn, trigger(BUSY)) == 1


def test_without_slots_every_run_goes_straight_on_the_queue(redis_conn):
    queue = make_queue(redis_conn, "codexbot")
    for n in range(1, 5):
        accept_trigger(queue, trigger(BUSY, number=n), f"b{n}", job_timeout=60, slots=0)
    assert len(queued_ids(queue)) == 4 and waiting_count(redis_conn, trigger(BUSY)) == 0


def test_quick_answers_and_redeliveries_take_no_slot(redis_conn):
    queue, control = make_queue(redis_conn, "codexbot"), make_queue(redis_conn, "codexbot-control")
    accept_trigger(queue, trigger(BUSY), "b1", job_timeout=60, slots=1)
    assert accept_trigger(queue, trigger(BUSY), "b1", job_timeout=60, slots=1).duplicate
    status = accept_trigger(control, trigger(BUSY, kind="status"), "s1", job_timeout=60, slots=1)
    assert queued_ids(control) == [job_id_for(status.run_id)]
    assert len(queued_ids(queue)) == 1 and waiting_count(redis_conn, trigger(BUSY)) == 0


def test_a_slot_held_by_a_job_whose_worker_died_is_healed(redis_conn):
    queue = make_queue(redis_conn, "codexbot")
    busy = [accept_trigger(queue, trigger(BUSY, number=n), f"b{n}", job_timeout=60, slots=1) for n in range(1, 3)]
    first = queue.dequeue_any([queue], None, connection=redis_conn, serializer=JSONSerializer)[0]
    first.set_status(JobStatus.FAILED)  # as reconciliation leaves a job whose worker was killed: no release ran
    assert queued_ids(queue) == []
    heal_slots(redis_conn)
    assert queued_ids(queue) == [job_id_for(busy[1].run_id)]
    assert RateLimitRegistry(slot_key(trigger(BUSY)), connection=redis_conn).get_allowed_job_count() == 1


def test_reconciliation_leaves_runs_waiting_for_a_slot_alone(redis_conn):
    from jobs.upkeep.reconcile import Policy, reconcile_runs

    queue = make_queue(redis_conn, "codexbot")
    busy = [accept_trigger(queue, trigger(BUSY, number=n), f"b{n}", job_timeout=60, slots=1) for n in range(1, 4)]
    for _ in range(3):  # more passes than the attempts a dead run gets: a waiting run is not dead
        assert reconcile_runs(redis_conn, ["codexbot"], policy=Policy()) == []
    assert waiting_count(redis_conn, trigger(BUSY)) == 2
    assert queued_ids(queue) == [job_id_for(busy[0].run_id)]


def test_a_run_marked_waiting_but_out_of_line_is_put_back_in_line(redis_conn):
    from jobs.upkeep.reconcile import Policy, reconcile_runs

    queue = make_queue(redis_conn, "codexbot")
    busy = [accept_trigger(queue, trigger(BUSY, number=n), f"b{n}", job_timeout=60, slots=1) for n in range(1, 3)]
    registry = RateLimitRegistry(slot_key(trigger(BUSY)), connection=redis_conn)
    redis_conn.zrem(registry.rate_limited_key, job_id_for(busy[1].run_id))  # as if that write was lost
    actions = reconcile_runs(redis_conn, ["codexbot"], policy=Policy())
    assert len(actions) == 1 and "not in line" in actions[0]
    assert registry.get_rate_limited_job_ids() == [job_id_for(busy[1].run_id)]


def test_a_run_promoted_while_reconciliation_looks_at_it_is_not_taken_for_dead(redis_conn):
    """The race that ran one run twice under `codexbot up`: the pass read the job while it waited, the
    worker ending the run before it promoted it, and the pass then found it out of line."""
    from jobs.upkeep.reconcile import Policy, why_dead

    queue = make_queue(redis_conn, "codexbot")
    busy = [accept_trigger(queue, trigger(BUSY, number=n), f"b{n}", job_timeout=60, slots=1) for n in range(1, 3)]
    seen = Job.fetch(job_id_for(busy[1].run_id), connection=redis_conn, serializer=JSONSerializer)
    assert seen.get_status() == JobStatus.RATE_LIMITED
    first = queue.dequeue_any([queue], None, connection=redis_conn, serializer=JSONSerializer)[0]
    first.set_status(JobStatus.FINISHED)
    release_slot(first)  # promotes the waiting run: it is queued now, out of the waiting set
    assert queued_ids(queue) == [seen.id]
    assert why_dead(redis_conn, seen, 0.0, Policy().stale_after) is None
