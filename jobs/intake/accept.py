"""Accept a trigger exactly once per delivery: record it, store the task, enqueue a job that carries its id."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import orjson
import redis
from redis.commands.core import Script
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from jobs.intake import fairness
from jobs.intake.job_hash import enqueue_stamp, job_hash

from jobs.intake import rate_limits
from jobs.intake.rate_limits import RateLimits
from jobs.records.runs import ALL_RUNS, initial_fields, run_key, thread_key
from jobs.types import Task, Trigger, derive_run_id

DELIVERY_TTL = 7 * 24 * 3600
PIPELINE_FUNC = "jobs.run.pipeline.run_task"
CONTROL_FUNC = "jobs.run.control.answer_control"  # named by string: the web process never imports the worker's code
REPLY_FUNC = "jobs.run.control.reply_over_limit"
PULL_FUNCS = {"review": "jobs.run.review.run_review", "fix-ci": "jobs.run.ci_repair.run_ci_repair",
              "pick": "jobs.run.pick.run_pick"}
REPLY_TIMEOUT = 300


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


def job_func(kind: str) -> str:
    """The job a run of this command kind is: a control answer never claims a workspace."""
    return CONTROL_FUNC if kind in CONTROL_KINDS else PULL_FUNCS.get(kind, PIPELINE_FUNC)


def queue_for(queues: dict[str, Queue], trigger: Trigger) -> Queue:
    return queues["control" if trigger.command.kind in CONTROL_KINDS else "runs"]


@dataclass(frozen=True)
class Intake:
    run_id: str
    duplicate: bool
    limited: str = ""  # over a rate limit: "told" (one reply queued) or "silent" (already told this hour)


# One atomic round trip: claim the delivery id, check the rate limits, store the task, start the run
# record and enqueue the job, or, when the delivery was seen before, do nothing at all. Lua runs
# atomically in Redis, so no half-recorded delivery can exist and no burst can slip past a limit. The job
# is written exactly as RQ's own unique enqueue writes it (jobs/intake/job_hash.py; pushed on the queue's
# list only when no job with that id exists). Over a limit, the requester's first delivery of the hour gets
# the reply job on the control queue instead of the run; later ones are only recorded. A run of a
# repository with slots (jobs/fairness.py) waits in RQ's rate-limit registry instead of the queue; the
# caller then promotes it with RQ's own script, when the script saw a free slot (RQ's promotion does
# nothing without one). What is written comes as one JSON record (a few arguments instead of ~120: packing
# them was most of a task delivery's time in redis-py); the jobs' data (RQ's compressed bytes) come apart.
# Returns {outcome, free}: outcome 0 duplicate, 1 accepted, 2 limited with a reply, 3 limited silently;
# free 1 when the run waits for a slot and its repository has one free.
_ACCEPT = """
-- KEYS[1]  delivery id claim (SET NX, expires)      KEYS[2]  the stored task
-- KEYS[3]  the run record (hash)                     KEYS[4]  the RQ job hash
-- KEYS[5]  the runs queue (list)                     KEYS[6]  RQ's set of queue names
-- KEYS[7]  every run, by time (zset)                 KEYS[8]  the runs of this issue or PR (list)
-- KEYS[9]  this repository's runs this hour (zset)   KEYS[10] this requester's runs this hour (zset)
-- KEYS[11] "told over the limit this hour" mark      KEYS[12] the control queue (list)
-- KEYS[13] the repository's waiting jobs (RQ rate-limit registry)
-- KEYS[14] the registry's config hash                KEYS[15] RQ's index of rate-limit keys
-- KEYS[16] the registry's jobs holding a slot
-- ARGV[1] run id   ARGV[2] delivery TTL   ARGV[3] job id   ARGV[4] now (also the run's score in KEYS[7])
-- ARGV[5] limit window (s)   ARGV[6] runs per repository   ARGV[7] runs per requester (0: no limit)
-- ARGV[8] the note set on a limited run (given_up)   ARGV[9] the repository's rate-limit key
-- ARGV[10] its slots (0: none)   ARGV[11] the record: {"task": JSON text, "run": fields, "job": fields,
--          "reply": fields}, fields as [field, value, ...]   ARGV[12] the job's data   ARGV[13] the reply's
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
    return {0, 0}
end
local now, window = tonumber(ARGV[4]), tonumber(ARGV[5])
local repo_limit, user_limit = tonumber(ARGV[6]), tonumber(ARGV[7])
local slots = tonumber(ARGV[10])
local outcome = 1
if repo_limit > 0 or user_limit > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[9], '-inf', now - window)
    redis.call('ZREMRANGEBYSCORE', KEYS[10], '-inf', now - window)
    if (repo_limit > 0 and redis.call('ZCARD', KEYS[9]) >= repo_limit)
            or (user_limit > 0 and redis.call('ZCARD', KEYS[10]) >= user_limit) then
        if not redis.call('SET', KEYS[11], ARGV[1], 'NX', 'EX', window) then
            return {3, 0}
        end
        outcome = 2
    else
        for _, key in ipairs({KEYS[9], KEYS[10]}) do
            redis.call('ZADD', key, now, ARGV[1])
            redis.call('EXPIRE', key, window)
        end
    end
end
local record = cjson.decode(ARGV[11])
redis.call('SET', KEYS[2], record.task, 'EX', ARGV[2])
if redis.call('EXISTS', KEYS[3]) == 0 then
    redis.call('HSET', KEYS[3], unpack(record.run))
    if outcome == 2 then
        redis.call('HSET', KEYS[3], 'given_up', ARGV[8])
    end
    redis.call('ZADD', KEYS[7], ARGV[4], ARGV[1])
    redis.call('RPUSH', KEYS[8], ARGV[1])
end
local fields, data, queue = record.job, ARGV[12], KEYS[5]
if outcome == 2 then
    fields, data, queue = record.reply, ARGV[13], KEYS[12]
end
local free = 0
if redis.call('EXISTS', KEYS[4]) == 0 then
    redis.call('HSET', KEYS[4], 'data', data, unpack(fields))
    if outcome == 1 and slots > 0 then
        redis.call('ZADD', KEYS[13], now, ARGV[3])
        redis.call('HSET', KEYS[14], 'concurrency', slots)
        redis.call('SADD', KEYS[15], ARGV[9])
        if redis.call('ZCARD', KEYS[16]) < slots then
            free = 1
        end
    else
        redis.call('RPUSH', queue, ARGV[3])
    end
    redis.call('SADD', KEYS[6], queue)
end
return {outcome, free}
"""
LIMITED_NOTE = "this request went over codexbot's rate limit and was not run"


def accept_trigger(queue: Queue, trigger: Trigger, delivery_id: str, *, job_timeout: int,
                   limits: RateLimits | None = None, slots: int = 0, control: Queue | None = None) -> Intake:
    """Record the delivery and enqueue its run; a delivery seen before enqueues nothing.

    With `limits`, a run over a limit is not enqueued: the first of the hour gets a reply job instead.
    With `slots`, at most that many runs of the repository are queued or running at once; the others wait.
    `control` is the queue's control queue when the caller has it at hand (made here otherwise).
    Raises redis.RedisError when the delivery could not be recorded, so the caller can answer 5xx.
    """
    conn = queue.connection
    run_id = derive_run_id(trigger.forge, delivery_id)
    task = Task(run_id=run_id, delivery_id=delivery_id, received_at=time.time(), trigger=trigger)
    limits = limits if limits is not None and limits.applies_to(trigger) else RateLimits()
    control = control if control is not None else make_queue(conn, control_queue_name(queue.name))
    slotted = fairness.limit_fields(trigger, slots) if trigger.command.kind not in CONTROL_KINDS else {}
    stamp = enqueue_stamp()
    job = job_hash(conn, queue.name, job_func(trigger.command.kind), job_timeout, DELIVERY_TTL, run_id, slotted, stamp)
    limited = limits.per_repo or limits.per_user  # only then may the script need the reply job
    reply = job_hash(conn, control.name, REPLY_FUNC, REPLY_TIMEOUT, DELIVERY_TTL, run_id, stamp=stamp) if limited else None
    record = {"task": task.to_json(), "run": [item for pair in initial_fields(task).items() for item in pair],
              "job": job.fields, "reply": reply.fields if reply else []}
    rate_limit_key = slotted.get("rate_limit_key", "")
    job_id = job_id_for(run_id)
    keys = [delivery_key(trigger.forge, delivery_id), task_key(run_id), run_key(run_id),
            Job.redis_job_namespace_prefix + job_id, queue.key, Queue.redis_queues_keys, ALL_RUNS,
            thread_key(trigger.forge, trigger.repo, trigger.number), rate_limits.repo_key(trigger),
            rate_limits.user_key(trigger), rate_limits.told_key(trigger), control.key,
            *fairness.waiting_keys(conn, rate_limit_key)]
    args = [run_id, DELIVERY_TTL, job_id, task.received_at, limits.window, limits.per_repo, limits.per_user,
            LIMITED_NOTE, rate_limit_key, slots if slotted else 0, orjson.dumps(record), job.data,
            reply.data if reply else b""]
    outcome, free = _accept_script(conn)(keys=keys, args=args)
    if outcome == 1 and free:  # a crash right here leaves it waiting until the next reconcile pass
        fairness.promote_waiting(conn, rate_limit_key, slots)
    return Intake(run_id, duplicate=outcome == 0, limited={2: "told", 3: "silent"}.get(outcome, ""))


@functools.lru_cache(maxsize=64)
def _accept_script(conn: redis.Redis) -> Script:
    """redis-py's script object (EVALSHA, loaded again when the server lost it), made once per connection:
    making one hashes the script text, which every delivery paid for."""
    return conn.register_script(_ACCEPT)


def load_task(conn: redis.Redis, run_id: str) -> Task | None:
    raw = conn.get(task_key(run_id))
    return Task.from_json(raw) if raw is not None else None
