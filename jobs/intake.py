"""Accept a trigger exactly once per delivery: record it, store the task, enqueue a job that carries its id."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis
from rq import Queue
from rq.exceptions import DuplicateJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from jobs.runs import initial_fields, run_key
from jobs.types import Task, Trigger, derive_run_id

DELIVERY_TTL = 7 * 24 * 3600
RECORDING_TTL = 60  # a half-done recording (process killed mid-way) expires so a redelivery can record it
RECORDING = "recording"
PIPELINE_FUNC = "jobs.pipeline.run_task"


def delivery_key(forge: str, delivery_id: str) -> str:
    return f"codexbot:delivery:{forge}:{delivery_id}"


def task_key(run_id: str) -> str:
    return f"codexbot:task:{run_id}"


def job_id_for(run_id: str) -> str:
    return f"codexbot-run-{run_id}"


def make_queue(conn: redis.Redis, name: str) -> Queue:
    return Queue(name, connection=conn, serializer=JSONSerializer)


@dataclass(frozen=True)
class Intake:
    run_id: str
    duplicate: bool


# One round trip: claim the delivery (briefly, until the job is enqueued), store the task and
# start the run record (only if there is none: a retried recording must not reset a running run).
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
    redis.call('SET', KEYS[2], ARGV[3], 'NX', 'EX', ARGV[4])
    if redis.call('EXISTS', KEYS[3]) == 0 then
        redis.call('HSET', KEYS[3], unpack(ARGV, 5))
    end
    return 1
end
return 0
"""


def accept_trigger(queue: Queue, trigger: Trigger, delivery_id: str, *, job_timeout: int) -> Intake:
    """Record the delivery and enqueue its run; a delivery seen before enqueues nothing.

    Raises redis.RedisError when the delivery could not be recorded, so the caller can answer 5xx.
    """
    conn = queue.connection
    run_id = derive_run_id(trigger.forge, delivery_id)
    key = delivery_key(trigger.forge, delivery_id)
    task = Task(run_id=run_id, delivery_id=delivery_id, received_at=time.time(), trigger=trigger)
    claim = conn.register_script(_CLAIM)  # EVALSHA, loading the script once per server
    fields = [item for pair in initial_fields(task).items() for item in pair]
    try:
        claimed = claim(keys=[key, task_key(run_id), run_key(run_id)],
                        args=[RECORDING, RECORDING_TTL, task.to_json(), DELIVERY_TTL, *fields])
        if not claimed:
            return Intake(run_id, duplicate=True)
        enqueue_run(queue, run_id, job_timeout=job_timeout)
        conn.set(key, run_id, ex=DELIVERY_TTL)
    except redis.RedisError:
        _forget_delivery(conn, key)
        raise
    return Intake(run_id, duplicate=False)


def enqueue_run(queue: Queue, run_id: str, *, job_timeout: int) -> None:
    """Enqueue the run's job under an id derived from the run; an existing job is left alone."""
    try:
        queue.enqueue(
            PIPELINE_FUNC,
            run_id,
            job_id=job_id_for(run_id),
            unique=True,
            job_timeout=job_timeout,
            result_ttl=DELIVERY_TTL,
            failure_ttl=DELIVERY_TTL,
            description=f"codexbot run {run_id}",
        )
    except DuplicateJobError:
        _ensure_queued(queue, job_id_for(run_id))


def _ensure_queued(queue: Queue, job_id: str) -> None:
    """A retried recording found the job: make sure an earlier, half-failed enqueue left it on the queue."""
    job = Job.fetch(job_id, connection=queue.connection, serializer=JSONSerializer)
    if job.get_status() == JobStatus.QUEUED and queue.connection.lpos(queue.key, job_id) is None:
        queue.push_job_id(job_id)


def _forget_delivery(conn: redis.Redis, key: str) -> None:
    """Undo a half-done recording so the forge's redelivery is not taken for a duplicate."""
    try:
        conn.delete(key)
    except redis.RedisError:
        pass  # Redis is gone; the marker expires after RECORDING_TTL on its own


def load_task(conn: redis.Redis, run_id: str) -> Task | None:
    raw = conn.get(task_key(run_id))
    return Task.from_json(raw) if raw is not None else None
