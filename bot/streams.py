"""Long-lived requests (run pages' live logs, API long-polls) take only a few of a process's threads.

Each one holds one of a web process's WSGI threads while it is open, and the signed run link is public on the issue, so without a
cap anyone could fill every thread and make the next webhook miss the forge's 10 s. `StreamSlots` caps them per
process and per client address; over the cap a live log gets 503 with Retry-After (the page then polls) and a
long-poll answers at once. `RunWaker` wakes the ones that are open from Redis's keyspace notifications on the run's
keys, one subscription per process, instead of each of them asking Redis twice a second.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from contextlib import contextmanager
from typing import Iterator

import redis

PER_CLIENT = 2  # streams one client address may hold in one process; its further tabs poll instead
FALLBACK_WAIT = 0.5  # seconds between looks when Redis will not send notifications (CONFIG refused)
_NEEDED_EVENTS = "Klh"  # keyspace events of lists (the log) and hashes (the run's status)
log = logging.getLogger("codexbot.web")


class StreamSlots:
    """How many long-lived requests this process holds, in all and per client address."""

    def __init__(self, total: int, per_client: int = PER_CLIENT):
        self.total, self.per_client = total, per_client
        self._lock = threading.Lock()
        self._held: Counter[str] = Counter()

    def take(self, client: str) -> bool:
        with self._lock:
            if sum(self._held.values()) >= self.total or self._held[client] >= self.per_client:
                return False
            self._held[client] += 1
            return True

    def give_back(self, client: str) -> None:
        with self._lock:
            self._held[client] -= 1
            if self._held[client] <= 0:
                del self._held[client]

    def held(self) -> int:
        with self._lock:
            return sum(self._held.values())

    def releaser(self, client: str):
        """A give_back for one taken slot that may be called more than once (close and error paths both call it)."""
        done = threading.Lock()

        def release() -> None:
            if done.acquire(blocking=False):
                self.give_back(client)
        return release


class RunWaker:
    """One pub/sub subscription per process to the keyspace events of `codexbot:run:*`; waiters wake on their run.

    The thread starts on first use in each process (the web server forks its workers after the app is built, and
    threads do not survive a fork). If Redis refuses to turn notifications on, waits fall back to FALLBACK_WAIT.
    """

    def __init__(self, conn: redis.Redis):
        self.conn = conn
        self.db = int(conn.connection_pool.connection_kwargs.get("db", 0))
        self._cond = threading.Condition()
        self._versions: dict[str, int] = {}
        self._watchers: Counter[str] = Counter()
        self._pid = 0
        self._live = False

    @contextmanager
    def watching(self, run_id: str) -> Iterator[None]:
        self._start()
        with self._cond:
            self._watchers[run_id] += 1
            self._versions.setdefault(run_id, 0)
        try:
            yield
        finally:
            with self._cond:
                self._watchers[run_id] -= 1
                if self._watchers[run_id] <= 0:
                    del self._watchers[run_id], self._versions[run_id]

    def version(self, run_id: str) -> int:
        """Read before looking at Redis; pass to wait, so a change in between is not missed."""
        with self._cond:
            return self._versions.get(run_id, 0)

    def wait(self, run_id: str, seen: int, timeout: float) -> None:
        """Until the run's keys change after `seen` was read, or timeout seconds."""
        limit = timeout if self._live else min(timeout, FALLBACK_WAIT)
        with self._cond:
            self._cond.wait_for(lambda: self._versions.get(run_id, 0) != seen, timeout=max(limit, 0.0))

    def _start(self) -> None:
        with self._cond:
            if self._pid == os.getpid():
                return
            self._pid, self._live = os.getpid(), False
        threading.Thread(target=self._listen, name="codexbot-run-waker", daemon=True).start()

    def _listen(self) -> None:
        pattern = f"__keyspace@{self.db}__:codexbot:run:*"
        while True:
            pubsub = self.conn.pubsub(ignore_subscribe_messages=True)
            try:
                self._turn_on_notifications()
                pubsub.psubscribe(pattern)
                with self._cond:
                    self._live = True
                    self._bump_all()  # anything written while not subscribed: every waiter looks again
                while True:
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._bump(message["channel"].decode("utf-8", "replace").split(":")[3])
            except redis.ResponseError as exc:
                log.warning("Redis refused keyspace notifications (%s): live logs look every %s s instead",
                            exc, FALLBACK_WAIT)
                return
            except redis.RedisError:
                with self._cond:
                    self._live = False
                    self._bump_all()
                time.sleep(1.0)  # Redis is away; waiters poll meanwhile
            finally:
                pubsub.close()

    def _turn_on_notifications(self) -> None:
        """Add the list and hash keyspace events to whatever Redis already sends (never take any away)."""
        current = self.conn.config_get("notify-keyspace-events").get("notify-keyspace-events", "")
        current = current.decode() if isinstance(current, bytes) else current
        if "A" in current and "K" in current:
            return
        wanted = "".join(sorted(set(current) | set(_NEEDED_EVENTS)))
        if wanted != "".join(sorted(set(current))):
            self.conn.config_set("notify-keyspace-events", wanted)

    def _bump(self, run_id: str) -> None:
        with self._cond:
            if run_id in self._versions:
                self._versions[run_id] += 1
                self._cond.notify_all()

    def _bump_all(self) -> None:
        for run_id in self._versions:
            self._versions[run_id] += 1
        self._cond.notify_all()
