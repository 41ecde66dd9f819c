"""Accept a trigger exactly once per delivery: record it, store the task, enqueue a job that carries its id."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from rq.utils import now

from jobs.runs import ALL_RUNS, initial_fields, run_key, thread_key
from jobs.types import Task, Trigger, derive_run_id

DELIVERY_TTL = 7 * 24 * 3600
PIPELINE_FUNC = "jobs.pipeline.run_task"


def delivery_key(forge: str, delivery_id: str) -> str:
    return f"codexbot:delivery:{forge}:{delivery_id}"


def task_key(run_id: str) -> str:
    return f"codexbot:task:{run_id}"


def job_id_for(run_id: str) -> str:
    return f"codexbot-run-{run_id}"


CONTROL_KINDS = ("help", "status", "cancel")


def make_queue(conn: redis.Redis, name: str) -> Queue:
    return Queue(name, connection=conn, serializer=JSONSerializer)


def control_queue_name(name: str) -> str:
    """Quick answers (help, status, cancel) wait in their own queue, which workers take from first."""
    return f"{name}-control"


def queue_for(queues: dict[str, Queue], trigger: Trigger) -> Queue:
    return queues["control" if trigger.command.kind in CONTROL_KINDS else "runs"]


@dataclass(frozen=True)
class Intake:
    run_id: str
    duplicate: bool


# One atomic round trip: claim the delivery id, store the task, start the run record and enqueue the
# job, or, when the delivery was seen before, do nothing at all. Lua runs atomically in Redis, so no
# half-recorded delivery can exist. The job is written exactly as RQ's own unique enqueue writes it
# (RQ's job hash from Job.to_dict(), pushed on the queue's list only when no job with that id exists).
_ACCEPT = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
    return 0
end
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])
local run_fields = tonumber(ARGV[5])
if redis.call('EXISTS', KEYS[3]) == 0 then
    redis.call('HSET', KEYS[3], unpack(ARGV, 6, 5 + run_fields))
    redis.call('ZADD', KEYS[7], ARGV[6 + run_fields], ARGV[1])
    redis.call('RPUSH', KEYS[8], ARGV[1])
end
if redis.call('EXISTS', KEYS[4]) == 0 then
    redis.call('HSET', KEYS[4], unpack(ARGV, 7 + run_fields))
    redis.call('RPUSH', KEYS[5], ARGV[4])
    redis.call('SADD', KEYS[6], KEYS[5])
end
return 1
"""


def accept_trigger(queue: Queue, trigger: Trigger, delivery_id: str, *, job_timeout: int) -> Intake:
    """Record the delivery and enqueue its run; a delivery seen before enqueues nothing.

    Raises redis.RedisError when the delivery could not be recorded, so the caller can answer 5xx.
    """
    conn = queue.connection
    run_id = derive_run_id(trigger.forge, delivery_id)
    task = Task(run_id=run_id, delivery_id=delivery_id, received_at=time.time(), trigger=trigger)
    job = _make_job(queue, run_id, job_timeout)
    run_fields = _flatten(initial_fields(task))
    job_fields = _flatten({k: v for k, v in job.to_dict().items() if v is not None})
    accept = conn.register_script(_ACCEPT)  # EVALSHA; the script is loaded once per server
    accepted = accept(
        keys=[delivery_key(trigger.forge, delivery_id), task_key(run_id), run_key(run_id), job.key, queue.key,
              Queue.redis_queues_keys, ALL_RUNS, thread_key(trigger.forge, trigger.repo, trigger.number)],
        args=[run_id, DELIVERY_TTL, task.to_json(), job.id, len(run_fields), *run_fields, task.received_at,
              *job_fields],
    )
    return Intake(run_id, duplicate=not accepted)


def _make_job(queue: Queue, run_id: str, job_timeout: int) -> Job:
    job = Job.create(PIPELINE_FUNC, args=[run_id], connection=queue.connection, id=job_id_for(run_id),
                     timeout=job_timeout, result_ttl=DELIVERY_TTL, failure_ttl=DELIVERY_TTL,
                     description=f"codexbot run {run_id}", status=JobStatus.QUEUED, origin=queue.name,
                     serializer=JSONSerializer)
    job.enqueued_at = now()
    return job


def _flatten(mapping: dict) -> list:
    return [item for pair in mapping.items() for item in pair]


def load_task(conn: redis.Redis, run_id: str) -> Task | None:
    raw = conn.get(task_key(run_id))
    return Task.from_json(raw) if raw is not None else None
