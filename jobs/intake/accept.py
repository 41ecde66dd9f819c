"""Accept a trigger exactly once per delivery: record it, store the task, enqueue a job that carries its id."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import orjson
import redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from rq.utils import now

from jobs.intake import fairness

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
# is written exactly as RQ's own unique enqueue writes it (RQ's job hash from Job.to_dict(), pushed on the
# queue's list only when no job with that id exists). Over a limit, the requester's first delivery of the
# hour gets the reply job on the control queue instead of the run; later ones are only recorded. A run
# of a repository with slots (jobs/fairness.py) waits in RQ's rate-limit registry instead of the queue;
# the caller then promotes it with RQ's own script, when the script saw a free slot (RQ's promotion does
# nothing without one). The hashes come as JSON lists of field, value, …, all text (one argument each
# instead of one per field and value: packing ~120 arguments was most of a delivery's time in redis-py);
# a job's `data` (RQ's compressed bytes) comes as its own argument.
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
-- ARGV[1] run id   ARGV[2] delivery TTL   ARGV[3] task JSON   ARGV[4] job id   ARGV[5] now
-- ARGV[6] limit window (s)   ARGV[7] runs per repository   ARGV[8] runs per requester (0: no limit)
-- ARGV[9] the note set on a limited run (given_up)   ARGV[10] the run record's fields (JSON)
-- ARGV[11] the run's score in KEYS[7]   ARGV[12] the job's fields (JSON)   ARGV[13] the job's data
-- ARGV[14] the reply job's fields (JSON, [] when no limit)   ARGV[15] the reply job's data
-- ARGV[16] the repository's rate-limit key   ARGV[17] its slots (0: none)
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
    return {0, 0}
end
local now, window = tonumber(ARGV[5]), tonumber(ARGV[6])
local repo_limit, user_limit = tonumber(ARGV[7]), tonumber(ARGV[8])
local slots = tonumber(ARGV[17])
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
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])
if redis.call('EXISTS', KEYS[3]) == 0 then
    redis.call('HSET', KEYS[3], unpack(cjson.decode(ARGV[10])))
    if outcome == 2 then
        redis.call('HSET', KEYS[3], 'given_up', ARGV[9])
    end
    redis.call('ZADD', KEYS[7], ARGV[11], ARGV[1])
    redis.call('RPUSH', KEYS[8], ARGV[1])
end
local fields, data, queue = ARGV[12], ARGV[13], KEYS[5]
if outcome == 2 then
    fields, data, queue = ARGV[14], ARGV[15], KEYS[12]
end
local free = 0
if redis.call('EXISTS', KEYS[4]) == 0 then
    redis.call('HSET', KEYS[4], 'data', data, unpack(cjson.decode(fields)))
    if outcome == 1 and slots > 0 then
        redis.call('HSET', KEYS[4], 'status', 'rate_limited')
        redis.call('ZADD', KEYS[13], now, ARGV[4])
        redis.call('HSET', KEYS[14], 'concurrency', slots)
        redis.call('SADD', KEYS[15], ARGV[16])
        if redis.call('ZCARD', KEYS[16]) < slots then
            free = 1
        end
    else
        redis.call('RPUSH', queue, ARGV[4])
    end
    redis.call('SADD', KEYS[6], queue)
end
return {outcome, free}
"""
_ACCEPT_SHA = hashlib.sha1(_ACCEPT.encode()).hexdigest()
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
    job = _make_job(queue, run_id, job_timeout, job_func(trigger.command.kind))
    slotted = trigger.command.kind not in CONTROL_KINDS and fairness.limit_job(job, trigger, slots)
    run_fields = orjson.dumps(_flatten(initial_fields(task)))
    job_fields, job_data = _job_fields(job)
    limited = limits.per_repo or limits.per_user  # only then may the script need the reply job
    reply_fields, reply_data = _job_fields(_make_job(control, run_id, REPLY_TIMEOUT, REPLY_FUNC)) if limited else (b"[]", b"")
    keys = [delivery_key(trigger.forge, delivery_id), task_key(run_id), run_key(run_id), job.key, queue.key,
            Queue.redis_queues_keys, ALL_RUNS, thread_key(trigger.forge, trigger.repo, trigger.number),
            rate_limits.repo_key(trigger), rate_limits.user_key(trigger), rate_limits.told_key(trigger), control.key,
            *fairness.waiting_keys(job)]
    args = [run_id, DELIVERY_TTL, task.to_json(), job.id, task.received_at, limits.window, limits.per_repo,
            limits.per_user, LIMITED_NOTE, run_fields, task.received_at, job_fields, job_data, reply_fields,
            reply_data, job.rate_limit_key or "", slots if slotted else 0]
    outcome, free = _evalsha(conn, _ACCEPT_SHA, _ACCEPT, keys, args)
    if outcome == 1 and free:  # a crash right here leaves it waiting until the next reconcile pass
        fairness.promote_waiting(conn, job.rate_limit_key, slots)
    return Intake(run_id, duplicate=outcome == 0, limited={2: "told", 3: "silent"}.get(outcome, ""))


def _job_fields(job: Job) -> tuple[bytes, bytes]:
    """RQ's hash of the job as the script takes it: the other fields as a JSON list of text, and its data."""
    mapping = {k: v for k, v in job.to_dict().items() if v is not None}
    data = mapping.pop("data")
    return orjson.dumps(_flatten({k: _as_text(v) for k, v in mapping.items()})), data


def _as_text(value: object) -> str:
    """A hash value as redis-py would have written it (str, an enum's value, int, float's repr)."""
    if isinstance(value, str):
        return str.__str__(value)  # a str enum (JobStatus) is its value, as redis-py encodes it
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    if isinstance(value, bytes):
        return value.decode()
    raise TypeError(f"RQ's job hash has a {type(value).__name__} value; the intake script takes text only")


def _evalsha(conn: redis.Redis, sha: str, script: str, keys: list, args: list):
    """Run a script by its digest, loading it first when this server does not know it (a restart)."""
    try:
        return conn.evalsha(sha, len(keys), *keys, *args)
    except redis.exceptions.NoScriptError:
        conn.script_load(script)
        return conn.evalsha(sha, len(keys), *keys, *args)


def _make_job(queue: Queue, run_id: str, job_timeout: int, func: str = PIPELINE_FUNC) -> Job:
    job = Job.create(func, args=[run_id], connection=queue.connection, id=job_id_for(run_id),
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
