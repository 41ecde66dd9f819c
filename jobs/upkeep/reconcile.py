"""Finds runs whose worker died (killed, out of memory) and retries them, or gives them up with a clear error.

A run's record says queued or running; its RQ job says whether any worker still works on it. When the
job is gone, ended, or was started by a worker that stopped heartbeating, the run is re-queued under the
same job id (the pipeline is idempotent) or, after `max_attempts`, marked failed, so no run stays running.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable
from datetime import timezone

import redis
from rq import Worker
from rq.defaults import DEFAULT_JOB_MONITORING_INTERVAL
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.job_lifecycle import record_job_failure
from rq.registry import CanceledJobRegistry, FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from jobs import metrics

from jobs.records import runs
from jobs.intake.fairness import heal_slots, is_waiting
from jobs.intake.accept import CONTROL_FUNC, CONTROL_KINDS, DELIVERY_TTL, PIPELINE_FUNC, control_queue_name, job_id_for, make_queue

log = logging.getLogger("codexbot.reconcile")
LOCK_KEY = "codexbot:reconcile:lock"  # one pass at a time over all workers, so no run is re-queued twice
ALIVE = (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED)
ENDED = {JobStatus.FAILED: FailedJobRegistry, JobStatus.STOPPED: FailedJobRegistry,
         JobStatus.FINISHED: FinishedJobRegistry, JobStatus.CANCELED: CanceledJobRegistry}


@dataclass(frozen=True)
class Policy:
    max_attempts: int = 2
    stale_after: float = DEFAULT_JOB_MONITORING_INTERVAL + 60  # as long as RQ keeps a busy worker's heartbeat
    scan_limit: int = 500  # newest runs looked at per pass
    max_age: float = 2 * 24 * 3600  # older runs are left alone
    job_timeout: int = 3600  # for a job re-created because Redis lost it
    command: str = "/codex"


def give_up_message(policy: Policy) -> str:
    times = "twice" if policy.max_attempts == 2 else f"{policy.max_attempts} times"
    return (f"the worker running this run stopped {times} (killed or out of memory); "
            f"the run was given up: ask again with {policy.command} retry")


def reconcile_runs(conn: redis.Redis, queue_names: list[str] | tuple[str, ...], *, now: float | None = None,
                   policy: Policy = Policy()) -> list[str]:
    """One pass: retry or give up each unfinished run of these queues whose job no live worker holds."""
    now = time.time() if now is None else now
    lock = conn.lock(LOCK_KEY, timeout=120, blocking_timeout=15)
    if not lock.acquire():
        log.info("another worker is reconciling runs; skipped this pass")
        return []
    try:
        for name in queue_names:  # RQ's own abandoned-job pass first: jobs whose heartbeat expired become failed
            StartedJobRegistry(name, connection=conn, serializer=JSONSerializer).cleanup()
        actions = [action for run_id in unfinished_runs(conn, now, policy)
                   if (action := reconcile_run(conn, run_id, tuple(queue_names), now, policy))]
        heal_slots(conn)  # slots of the jobs given up or re-queued above, and runs left waiting for one
    finally:
        lock.release()
    for action in actions:
        log.warning(action)
    return actions


def unfinished_runs(conn: redis.Redis, now: float, policy: Policy) -> list[str]:
    """Queued or running runs, newest first, within the pass's bounds."""
    ids = [i.decode() for i in conn.zrevrangebyscore(runs.ALL_RUNS, "+inf", now - policy.max_age,
                                                     start=0, num=policy.scan_limit)]
    pipe = conn.pipeline(transaction=False)
    for run_id in ids:
        pipe.hget(runs.run_key(run_id), "status")
    return [run_id for run_id, status in zip(ids, pipe.execute()) if status in (b"queued", b"running")]


def reconcile_run(conn: redis.Redis, run_id: str, queue_names: tuple[str, ...], now: float,
                  policy: Policy) -> str | None:
    """What was done for one run, or None when its job is alive (or belongs to other workers' queues)."""
    run = runs.load_run(conn, run_id)
    job = fetch_job(conn, run_id)
    origin = job.origin if job is not None else intended_queue(run, queue_names)
    if run is None or origin not in queue_names:
        return None
    reason = why_dead(conn, job, now, policy.stale_after)
    run = runs.load_run(conn, run_id)  # again: it may have finished while we looked at its job
    if reason is None or run is None or run.is_final:
        return None
    if job is not None and job.get_status(refresh=False) == JobStatus.STARTED:
        fail_abandoned(conn, job, reason)
    tries = max(run.attempts, int(conn.hget(runs.run_key(run_id), "requeues") or 0) + 1)
    if tries >= policy.max_attempts and not run.given_up:
        return report_give_up(conn, run_id, job, origin, reason, tries, policy)
    if tries >= policy.max_attempts:
        return give_up(conn, run_id, reason, tries, policy)
    return requeue(conn, run_id, job, origin, reason, tries, policy)


def fetch_job(conn: redis.Redis, run_id: str) -> Job | None:
    try:
        return Job.fetch(job_id_for(run_id), connection=conn, serializer=JSONSerializer)
    except NoSuchJobError:
        return None


def intended_queue(run: runs.Run | None, queue_names: tuple[str, ...]) -> str | None:
    """Where intake put a run whose job Redis lost: quick commands in the control queue, the rest in the runs queue."""
    control = run is not None and run.trigger.get("command") in CONTROL_KINDS
    names = [n for n in queue_names if n.endswith(control_queue_name("")) == control]
    return names[0] if names else None


def why_dead(conn: redis.Redis, job: Job | None, now: float, stale_after: float) -> str | None:
    """Why no worker will finish this job, or None while it waits in its queue or a live worker runs it."""
    if job is None:
        return "its job is gone from Redis"
    status = job.get_status(refresh=False)
    if status in ALIVE:
        return None
    if status == JobStatus.RATE_LIMITED:  # waiting for a slot of its repository (jobs/fairness.py)
        return None if is_waiting(conn, job) else "its job waits for a repository slot it is not in line for"
    if status != JobStatus.STARTED:
        result = job.latest_result()
        detail = (result.exc_string or "").strip().splitlines()[-1:] if result else []
        return f"its job {status.value} ({detail[0][:200] if detail else 'no detail'})"
    worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + (job.worker_name or ""), connection=conn)
    if worker is None:
        return f"its worker {job.worker_name or '?'} is gone"
    if conn.hexists(worker.key, "death"):  # it registered its death: a stopped worker runs nothing
        return f"its worker {worker.name} stopped"
    beat = worker.last_heartbeat or worker.birth_date
    age = now - beat.replace(tzinfo=timezone.utc).timestamp() if beat else float("inf")
    if age > stale_after:
        return f"its worker {worker.name} has not sent a heartbeat for {age:.0f} s"
    return None


def fail_abandoned(conn: redis.Redis, job: Job, reason: str) -> None:
    """Move a job whose worker died from the started to the failed registry, as RQ's own cleanup does later."""
    registry = StartedJobRegistry(job.origin, connection=conn, serializer=JSONSerializer)
    executions = [f"{job_id}:{execution_id}" for job_id, execution_id
                  in registry.get_job_and_execution_ids(cleanup=False) if job_id == job.id]
    with conn.pipeline() as pipe:
        record_job_failure(job, f"AbandonedJobError: {reason} (found by codexbot reconciliation)", pipe)
        if executions:
            pipe.zrem(registry.key, *executions)
        pipe.execute()


def requeue(conn: redis.Redis, run_id: str, job: Job | None, origin: str, reason: str, tries: int,
            policy: Policy) -> str | None:
    """Put the run's job back on its queue under the same id; None when another pass did it first."""
    try:
        if job is None:
            make_queue(conn, origin).enqueue(
                CONTROL_FUNC if origin.endswith(control_queue_name("")) else PIPELINE_FUNC, run_id, job_id=job_id_for(run_id), job_timeout=policy.job_timeout,
                result_ttl=DELIVERY_TTL, failure_ttl=DELIVERY_TTL, description=f"codexbot run {run_id}")
        elif (registry := ENDED.get(job.get_status())) is not None:
            registry(origin, connection=conn, serializer=JSONSerializer).requeue(job)
        else:
            make_queue(conn, origin).enqueue_job(job)
    except InvalidJobOperation:
        return None  # no longer in that registry: someone requeued or deleted it meanwhile
    conn.hincrby(runs.run_key(run_id), "requeues", 1)
    runs.update_run(conn, run_id, status="queued")
    note = f"{reason}: re-queued it (attempt {tries + 1} of {policy.max_attempts})"
    runs.append_log(conn, run_id, note)
    return f"run {run_id}: {note}"


def report_give_up(conn: redis.Redis, run_id: str, job: Job | None, origin: str, reason: str, tries: int,
                   policy: Policy) -> str:
    """Queue the run once more, marked given up: that attempt only says so on the issue, then ends failed."""
    runs.update_run(conn, run_id, given_up=give_up_message(policy))
    if requeue(conn, run_id, job, origin, reason, tries, policy) is None:
        return f"run {run_id}: {reason}: another pass is handling it"
    return f"run {run_id}: {reason}: given up after {tries} attempts; queued once more to say so on the forge"


def give_up(conn: redis.Redis, run_id: str, reason: str, tries: int, policy: Policy) -> str:
    """Record the run as failed with the sentence that says what to do; nothing is queued again."""
    message = give_up_message(policy)
    runs.update_run(conn, run_id, status="failed", error=message)
    metrics.record_finished_run(conn, runs.load_run(conn, run_id), "failed")
    runs.append_log(conn, run_id, f"{reason}: run failed: {message}")
    return f"run {run_id}: {reason}: given up after {tries} attempts"


class Reconciler:
    """Reconciles once now, then every `interval` seconds from a daemon thread of the worker's parent process."""

    def __init__(self, conn: redis.Redis, queue_names: list[str], policy: Policy, interval: float = 60,
                 tidy: Callable[[], object] = lambda: None):
        self.conn, self.queue_names, self.policy, self.interval = conn, list(queue_names), policy, interval
        self.tidy = tidy  # housekeeping on the same beat: archiving finished runs' logs, retention
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="codexbot-reconcile", daemon=True)

    def start(self, *, periodic: bool = True) -> "Reconciler":
        reconcile_runs(self.conn, self.queue_names, policy=self.policy)
        if periodic:
            self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)

    def _loop(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                reconcile_runs(self.conn, self.queue_names, policy=self.policy)
                self.tidy()
            except (redis.RedisError, OSError) as exc:  # Redis away for a while: the next pass tries again
                log.warning("reconciling runs failed (%s: %s); next try in %.0f s", type(exc).__name__, exc,
                            self.interval)
            except Exception:  # a bug must not end this thread: no run would ever be reconciled again
                log.exception("a reconcile or tidy pass failed; next try in %.0f s", self.interval)
