"""The intake script writes RQ's job hash from a template: it must be what RQ itself writes, field by field."""

from __future__ import annotations

import zlib

import pytest
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from jobs.intake.accept import CONTROL_FUNC, PIPELINE_FUNC, PULL_FUNCS, REPLY_FUNC
from jobs.intake.fairness import limit_fields
from jobs.intake.job_hash import _as_text, job_hash
from jobs.types import Command, Trigger

TRIGGER = Trigger(forge="github", event="issue_comment", source="comment", repo="octo/calc", repo_id=1, number=7,
                  is_pull_request=False, title="t", author="alice", installation_id=1,
                  command=Command(kind="task", text="fix it"))


def rq_hash(conn, origin: str, func: str, timeout: int, run_id: str, slots: int = 0) -> dict[str, str]:
    """What RQ writes for the job, by RQ: Job.create and to_dict, with a RateLimit's attributes when slotted."""
    job = Job.create(func, args=[run_id], connection=conn, id=f"codexbot-run-{run_id}", timeout=timeout,
                     result_ttl=604800, failure_ttl=604800, description=f"codexbot run {run_id}",
                     status=JobStatus.RATE_LIMITED if slots else JobStatus.QUEUED, origin=origin,
                     serializer=JSONSerializer)
    if slots:
        job.rate_limit_key, job.rate_limit_concurrency = f"codexbot:repo:github:{TRIGGER.repo}", slots
    job.enqueued_at = job.created_at
    return {k: (v if k == "data" else _as_text(v)) for k, v in job.to_dict().items() if v is not None}


@pytest.mark.parametrize("func", [PIPELINE_FUNC, CONTROL_FUNC, REPLY_FUNC, *PULL_FUNCS.values()])
@pytest.mark.parametrize("slots", [0, 3])
def test_the_template_gives_what_rq_writes(redis_conn, func, slots):
    made = job_hash(redis_conn, "codexbot", func, 3600, 604800, "0123abcd", limit_fields(TRIGGER, slots))
    fields = dict(zip(made.fields[::2], made.fields[1::2]))
    expected = rq_hash(redis_conn, "codexbot", func, 3600, "0123abcd", slots)
    assert fields["created_at"] == fields["enqueued_at"]
    for stamp in ("created_at", "enqueued_at"):
        fields[stamp] = expected[stamp]
    assert made.data == expected.pop("data") and fields == expected


def test_a_hash_written_from_the_template_is_a_job_rq_reads_back(redis_conn):
    made = job_hash(redis_conn, "codexbot-control", REPLY_FUNC, 300, 604800, "feed0042")
    redis_conn.hset("rq:job:codexbot-run-feed0042", mapping={"data": made.data, **dict(zip(made.fields[::2], made.fields[1::2]))})
    job = Job.fetch("codexbot-run-feed0042", connection=redis_conn, serializer=JSONSerializer)
    assert (job.func_name, job.args, job.origin, job.timeout, job.get_status()) == (REPLY_FUNC, ["feed0042"], "codexbot-control", 300, JobStatus.QUEUED)
    assert job.description == "codexbot run feed0042" and zlib.decompress(made.data) == job.data
