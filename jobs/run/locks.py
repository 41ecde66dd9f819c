"""One run at a time per pull request: a Redis lock on the branch, so two runs never push to it at once."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator

import redis

POLL_SECONDS = 2.0
_RELEASE = """
-- KEYS[1] the pull request's lock   ARGV[1] the run id that holds it
-- delete the lock only while this run still holds it (it may have expired and been taken by another run)
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0
"""


def lock_key(forge: str, repo: str, number: int) -> str:
    return f"codexbot:lock:{forge}:{repo}#{number}"


@contextmanager
def pull_request_lock(conn: redis.Redis, key: str, run_id: str, ttl: int,
                      on_wait: Callable[[str], None], check_stop: Callable[[], None]) -> Iterator[None]:
    """Wait for the run holding the lock to finish (telling on_wait once), then hold it for this run.

    The lock expires after ttl (the job timeout), so a killed worker cannot hold a branch forever.
    """
    told = False
    while not conn.set(key, run_id, nx=True, ex=ttl):
        holder = conn.get(key)
        if holder is not None and holder.decode() == run_id:
            break  # this run's own earlier attempt
        if not told and holder is not None:
            on_wait(holder.decode())
            told = True
        check_stop()
        time.sleep(POLL_SECONDS)
    try:
        yield
    finally:
        conn.eval(_RELEASE, 1, key, run_id)
