"""Counters shared by every web and worker process, kept in Redis so /metrics can add them up."""

from __future__ import annotations

import functools
import json
import threading
import time

import redis

PREFIX = "codexbot:metrics:"
FLUSH_SECONDS = 1.0
# name → (kind, help); kind "counter" or "summary" (a summary keeps _count and _sum)
METRICS = {
    "deliveries": ("counter", "Webhook deliveries by forge, event and outcome status"),
    "runs_finished": ("counter", "Runs that ended, by forge and outcome"),
    "run_seconds": ("summary", "Wall time of finished runs"),
    "agent_steps": ("counter", "Agent steps taken"),
    "model_tokens": ("counter", "Model tokens used, by kind (prompt, completion)"),
    "forge_api_calls": ("counter", "Forge API operations by forge and outcome (ok, an HTTP status, unreachable)"),
    "forge_retries": ("counter", "Forge API requests retried, by forge and reason (rate_limit, server_error, "
                                 "connection, token_rejected)"),
    "egress_refused": ("counter", "Connections the network fence refused, by phase and kind (unlisted: not on the "
                                  "allowlist; unsafe: a loopback, private or metadata address; unresolved; malformed)"),
    "forge_wait_seconds": ("counter", "Seconds spent waiting before forge API retries, by forge and reason"),
}


def _field(labels: dict[str, str]) -> str:
    return _field_of(tuple(labels.items()))


@functools.lru_cache(maxsize=4096)
def _field_of(items: tuple[tuple[str, str], ...]) -> str:
    """The hash field of a set of labels; the same few recur on every delivery, so each is encoded once."""
    return json.dumps(dict(items), sort_keys=True)


def record(conn: redis.Redis, name: str, labels: dict[str, str], amount: float = 1.0) -> None:
    """Add to a counter (or observe a summary value) right away; for the worker, where writes are rare."""
    pipe = conn.pipeline(transaction=False)
    _add(pipe, name, labels, amount)
    pipe.execute()


def _add(pipe, name: str, labels: dict[str, str], amount: float) -> None:
    if METRICS[name][0] == "summary":
        pipe.hincrbyfloat(PREFIX + name + ":sum", _field(labels), amount)
        pipe.hincrby(PREFIX + name + ":count", _field(labels), 1)
    else:
        pipe.hincrbyfloat(PREFIX + name, _field(labels), amount)


class BufferedCounters:
    """Counts in memory and writes to Redis at most once a second, so the webhook path stays one round trip."""

    def __init__(self, conn: redis.Redis):
        self.conn = conn
        self.pending: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()
        self.flushed = time.monotonic()

    def add(self, name: str, labels: dict[str, str], amount: float = 1.0) -> None:
        with self.lock:
            key = (name, _field(labels))
            self.pending[key] = self.pending.get(key, 0.0) + amount
            due = time.monotonic() - self.flushed >= FLUSH_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            pending, self.pending, self.flushed = self.pending, {}, time.monotonic()
        if not pending:
            return
        pipe = self.conn.pipeline(transaction=False)
        for (name, field), amount in pending.items():
            pipe.hincrbyfloat(PREFIX + name, field, amount)
        try:
            pipe.execute()
        except redis.RedisError:
            with self.lock:  # keep the counts for the next flush rather than lose them
                for key, amount in pending.items():
                    self.pending[key] = self.pending.get(key, 0.0) + amount


def read_metric(conn: redis.Redis, key: str) -> list[tuple[dict[str, str], float]]:
    return [(json.loads(field), float(value)) for field, value in conn.hgetall(PREFIX + key).items()]


def record_finished_run(conn: redis.Redis, run, outcome: str) -> None:
    """A finished run's numbers (outcome, duration, steps, tokens), added to the shared counters."""
    forge = run.trigger.get("forge", "")
    record(conn, "runs_finished", {"forge": forge, "outcome": outcome})
    if run.started_at and run.finished_at:
        record(conn, "run_seconds", {"forge": forge}, run.finished_at - run.started_at)
    if run.usage:
        record(conn, "agent_steps", {"forge": forge}, run.usage.get("steps", 0))
        for kind in ("prompt", "completion"):
            record(conn, "model_tokens", {"kind": kind}, run.usage.get(f"{kind}_tokens", 0))
