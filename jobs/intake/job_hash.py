"""RQ's job hash for a run, as the intake script writes it: made by RQ once per kind of job, filled in per run.

A delivery that starts a run writes its RQ job in the same Lua script as everything else, so the web process
builds what RQ's own enqueue would write (`Job.create(...).to_dict()`). Making two RQ jobs per delivery (the
run's and the over-the-limit reply's) was about a fifth of a task delivery's time, and every field but the
run's id, its description and the times is the same for all runs of one queue, function and timeout; so RQ
makes a template once, and a run's hash is that template with those fields filled in.
tests/jobs/intake/test_job_hash.py holds the result equal to what RQ itself makes, field by field.
"""

from __future__ import annotations

import functools
import itertools
import json
import zlib
from dataclasses import dataclass

import redis
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from rq.utils import now, utcformat

_MARK = "codexbot-template-run-id"  # stands for the run id in the template's call data


@dataclass(frozen=True)
class JobHash:
    """A job's hash as the script takes it: the fields as a list of field, value, … (text), and its data."""

    fields: list[str]
    data: bytes  # RQ's compressed call data (binary, so it travels as its own argument)


def job_hash(conn: redis.Redis, origin: str, func: str, timeout: int, ttl: int, run_id: str,
             extra: dict[str, str] | None = None, stamp: str = "") -> JobHash:
    """The hash RQ would write for `func(run_id)` on the queue `origin`; `extra` fields are set over it.
    `stamp` is the time it is created and enqueued (RQ's text for now, when not given)."""
    fields, (before, after) = _template(conn, origin, func, timeout, ttl)
    stamp = stamp or enqueue_stamp()
    filled = dict(fields, created_at=stamp, enqueued_at=stamp, description=f"codexbot run {run_id}", **(extra or {}))
    call = before + json.dumps(run_id).encode() + after
    return JobHash(list(itertools.chain.from_iterable(filled.items())), zlib.compress(call))


def enqueue_stamp() -> str:
    """RQ's text for the time a job is created and enqueued, now."""
    return utcformat(now())


@functools.lru_cache(maxsize=256)
def _template(conn: redis.Redis, origin: str, func: str, timeout: int, ttl: int) -> tuple[dict[str, str], tuple[bytes, bytes]]:
    """RQ's own hash of such a job for a stand-in run id, and its call data before compression, split where
    the run id goes."""
    job = Job.create(func, args=[_MARK], connection=conn, id="codexbot-template", timeout=timeout, result_ttl=ttl,
                     failure_ttl=ttl, description="", status=JobStatus.QUEUED, origin=origin,
                     serializer=JSONSerializer)
    job.enqueued_at = now()
    mapping = {k: _as_text(v) for k, v in job.to_dict().items() if v is not None and k != "data"}
    if job.data.count(json.dumps(_MARK).encode()) != 1:
        raise RuntimeError("RQ's call data does not hold the run id as JSON text: the job hash template cannot be used")
    before, _, after = job.data.partition(json.dumps(_MARK).encode())
    return mapping, (before, after)


def _as_text(value: object) -> str:
    """A hash value as redis-py would have written it (str, an enum's value, int, float's repr)."""
    if isinstance(value, str):
        return str.__str__(value)  # a str enum (JobStatus) is its value, as redis-py encodes it
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    raise TypeError(f"RQ's job hash has a {type(value).__name__} value; the intake script takes text only")

