"""`codexbot worker`: an RQ worker that runs queued runs, built once with the server's settings."""

from __future__ import annotations

import logging

import redis
from rq import Worker
from rq.serializers import JSONSerializer

from jobs.context import build_services, configure
from jobs.intake import make_queue
from jobs.settings import Settings, SettingsError

log = logging.getLogger("codexbot.worker")


def run_worker(settings: Settings, *, burst: bool = False, name: str | None = None) -> bool:
    """Work the queue until stopped (or until it is empty, with burst); True when any job ran."""
    services = build_services(settings)
    try:
        services.redis.ping()
    except redis.RedisError as exc:
        raise SettingsError(f"Redis at CODEXBOT_REDIS_URL does not answer ({type(exc).__name__}): start it or fix the URL") from None
    configure(services)
    import jobs.pipeline  # noqa: F401  loaded once here, so each forked job starts warm

    queue = make_queue(services.redis, settings.queue)
    worker = Worker([queue], connection=services.redis, serializer=JSONSerializer, name=name)
    log.info("worker %s listening on queue %s", worker.name, queue.name)
    return worker.work(burst=burst, logging_level="WARNING", with_scheduler=False)
