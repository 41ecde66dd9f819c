"""Fair turns between repositories: at most N runs of one repository are queued or running at once.

The rest of that repository's runs wait in RQ's own rate-limit registry (RQ 3's `RateLimit`: a sorted set
of waiting job ids per key, promoted oldest first when a slot frees), so one busy repository cannot fill
the queue ahead of everybody else: another repository's run waits behind at most N of the busy one's.
RQ releases a slot when the job ends, and its maintenance frees slots of jobs that died; the reconciler
calls `heal_slots` on every pass so a crash between recording and promotion costs at most one pass.
"""

from __future__ import annotations

import functools

import redis
from rq.job import Job, JobStatus
from rq.rate_limit import RateLimitRegistry

from jobs.types import Trigger


def slot_key(trigger: Trigger) -> str:
    """The rate-limit key of a run: its repository on its forge."""
    return f"codexbot:repo:{trigger.forge}:{trigger.repo.lower()}"


def limit_fields(trigger: Trigger, concurrency: int) -> dict[str, str]:
    """The fields that make a run's RQ job wait for a slot of its repository (none when there is no limit):
    what RQ's own enqueue writes for a job with a RateLimit (promotion sets the status to queued)."""
    if concurrency <= 0:
        return {}
    return {"rate_limit_key": slot_key(trigger), "rate_limit_concurrency": str(concurrency),
            "status": JobStatus.RATE_LIMITED.value}


def waiting_keys(conn: redis.Redis, rate_limit_key: str) -> list[str]:
    """Keys the intake script writes or reads for a limited job: its waiting set, the limit's config, the key
    index and the jobs holding a slot (for a job without a limit, keys the script leaves alone)."""
    return list(_registry_keys(rate_limit_key or "codexbot:unlimited", conn))


@functools.lru_cache(maxsize=1024)
def _registry_keys(key: str, conn: redis.Redis) -> tuple[str, ...]:
    """RQ's names for one rate-limit key (a registry object loads four scripts: made once per repository)."""
    registry = RateLimitRegistry(key, connection=conn)
    return registry.rate_limited_key, registry.config_key, RateLimitRegistry.rl_keys_key, registry.allowed_key


def promote_waiting(conn: redis.Redis, key: str, concurrency: int) -> list[str]:
    """Push waiting jobs of one repository onto the queue while it has free slots (RQ's own script)."""
    return RateLimitRegistry(key, connection=conn).acquire_and_enqueue(concurrency)


def heal_slots(conn: redis.Redis) -> None:
    """Free slots held by jobs that ended without releasing them and promote jobs left waiting."""
    for registry in RateLimitRegistry.all(conn):
        registry.cleanup()


def is_waiting(conn: redis.Redis, job: Job) -> bool:
    """Whether a job marked rate-limited is in line for a slot, or no longer marked so (a run that is marked
    but not in line would never start). Status and place are read in one transaction: RQ's promotion moves
    both at once, so a run promoted meanwhile is never taken for one that fell out of line."""
    if not job.rate_limit_key:
        return False
    registry = RateLimitRegistry(job.rate_limit_key, connection=conn)
    with conn.pipeline(transaction=True) as pipe:
        status, place = pipe.hget(job.key, "status").zscore(registry.rate_limited_key, job.id).execute()
    return place is not None or status != JobStatus.RATE_LIMITED.value.encode()


def waiting_count(conn: redis.Redis, trigger: Trigger) -> int:
    """How many runs of the trigger's repository are waiting for a slot (for `/codex status`)."""
    return RateLimitRegistry(slot_key(trigger), connection=conn).get_rate_limited_job_count()
