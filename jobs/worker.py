"""`codexbot worker`: an RQ worker that runs queued runs, built once with the server's settings."""

from __future__ import annotations

import logging
import sys

import redis
import rq
from rq.serializers import JSONSerializer

from jobs.intake.accept import control_queue_name, make_queue
from jobs.records.schema import SchemaError, check_readable
from jobs.run import ci_repair, control, pick, pipeline, review  # noqa: F401 (loaded once here: each forked job starts warm)
from jobs.sandbox import SandboxError
from jobs.sandbox.bubblewrap import check_bwrap
from jobs.settings import Settings, SettingsError, build_services, configure
from jobs.upkeep.reconcile import Policy, Reconciler
from jobs.upkeep.tidy import tidy_runs

log = logging.getLogger("codexbot.worker")
# Jobs queued before the run code moved into jobs/run/ name these modules; RQ imports a job's function by name.
LISTEN_SECONDS = 1.0
LEGACY_JOB_MODULES = {"jobs.pipeline": pipeline, "jobs.replies": control}


class Worker(rq.Worker):
    """RQ's worker, listening on its command channel with a 1 s wait instead of RQ's 60 s: on stop, redis-py
    joins that listening thread without a timeout, so a stop that raced the unsubscribe reply hung for up to
    a minute (seen under load: `worker.terminate()` not done after 30 s)."""

    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(sleep_time=LISTEN_SECONDS, daemon=True,
                                                       exception_handler=self._pubsub_exception_handler)


def alias_legacy_job_paths() -> None:
    """Let a job queued by the release before the redesign find its function (`jobs.pipeline.run_task`)."""
    for name, module in LEGACY_JOB_MODULES.items():
        sys.modules.setdefault(name, module)


def warm_up(settings: Settings) -> None:
    """Probe bubblewrap once here, before RQ forks a process per job: check_bwrap remembers a success, so each
    job then starts without the probe. A machine where the probe fails says so in each run, as before."""
    if settings.sandbox == "bwrap":
        try:
            check_bwrap()
        except SandboxError as exc:
            log.warning("%s", exc)


def run_worker(settings: Settings, *, burst: bool = False, name: str | None = None,
               queues: tuple[str, ...] = ()) -> bool:
    """Work the queues until stopped (or until empty, with burst), quick answers first; True when any job ran.

    `queues` narrows it: ("control",) makes a worker that only answers help/status/cancel, so a cancel
    is never stuck behind a long run.
    """
    services = build_services(settings)
    try:
        services.redis.ping()
    except redis.RedisError as exc:
        raise SettingsError(f"Redis at CODEXBOT_REDIS_URL does not answer ({type(exc).__name__}): start it or fix the URL") from None
    try:
        check_readable(services.redis)
    except SchemaError as exc:
        raise SettingsError(str(exc)) from None
    configure(services)
    alias_legacy_job_paths()
    warm_up(settings)

    by_role = {"control": control_queue_name(settings.queue), "runs": settings.queue}
    names = [by_role[role] for role in ("control", "runs") if not queues or role in queues]
    worker = Worker([make_queue(services.redis, n) for n in names], connection=services.redis,
                    serializer=JSONSerializer, name=name)
    # a connection of its own: the reconciler's thread must not share the worker's socket
    rconn = redis.Redis.from_url(settings.redis_url, socket_timeout=10)
    reconciler = Reconciler(rconn, names, Policy(job_timeout=settings.job_timeout, command=settings.command),
                            tidy=lambda: tidy_runs(rconn, settings.data_dir, settings.retention_days))
    reconciler.start(periodic=not burst)  # one pass now, then every 60 s from a thread of this parent process
    log.info("worker %s listening on queues %s", worker.name, ", ".join(names))
    try:
        return worker.work(burst=burst, logging_level="WARNING", with_scheduler=False)
    finally:
        reconciler.stop()
