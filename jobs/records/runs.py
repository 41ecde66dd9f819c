"""Run records in Redis: status, timestamps, who asked, results, and the run's log lines."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from jobs.types import Task

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL = ("succeeded", "failed", "cancelled")
MAX_LOG_LINE = 4000
MAX_STORED_DIFF = 2_000_000
_JSON_FIELDS = ("tests", "trigger", "usage")


SCHEMA_VERSION = 2  # of the records in Redis; jobs/schema.py migrates older ones
ALL_RUNS = "codexbot:runs"  # sorted set: run id scored by creation time


def thread_key(forge: str, repo: str, number: int) -> str:
    """The runs asked for on one issue or pull/merge request, oldest first."""
    return f"codexbot:thread:{forge}:{repo}#{number}"


def runs_on_thread(conn: redis.Redis, forge: str, repo: str, number: int) -> list[str]:
    return [item.decode() for item in conn.lrange(thread_key(forge, repo, number), 0, -1)]


def run_key(run_id: str) -> str:
    return f"codexbot:run:{run_id}"


def log_key(run_id: str) -> str:
    return f"codexbot:run:{run_id}:log"


@dataclass
class Run:
    run_id: str
    status: str
    repo: str = ""
    number: int = 0
    requester: str = ""
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    branch: str = ""
    pr_url: str = ""
    summary: str = ""
    error: str = ""
    tests: dict[str, Any] = field(default_factory=dict)
    trigger: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)
    tracking_comment_id: int | None = None
    attempts: int = 0
    given_up: str = ""  # set by reconciliation: the next attempt only reports this on the forge

    @property
    def is_final(self) -> bool:
        return self.status in FINAL


def initial_fields(task: Task) -> dict[str, str]:
    """The hash a run starts with, written by the front door together with the task."""
    trig = task.trigger
    return {
        "status": "queued", "repo": trig.repo, "number": str(trig.number), "requester": trig.author,
        "created_at": repr(task.received_at), "forge": trig.forge, "schema": str(SCHEMA_VERSION),
        "trigger": json.dumps({"forge": trig.forge, "event": trig.event, "source": trig.source,
                               "url": trig.url, "is_pull_request": trig.is_pull_request,
                               "command": trig.command.kind, "title": trig.title}),
    }


def load_run(conn: redis.Redis, run_id: str) -> Run | None:
    return parse_run(run_id, conn.hgetall(run_key(run_id)))


def load_runs(conn: redis.Redis, run_ids: list[str]) -> list[Run]:
    """Several runs in one round trip; ids with no record are left out."""
    pipe = conn.pipeline(transaction=False)
    for run_id in run_ids:
        pipe.hgetall(run_key(run_id))
    found = (parse_run(run_id, raw) for run_id, raw in zip(run_ids, pipe.execute()))
    return [run for run in found if run is not None]


def parse_run(run_id: str, raw: dict[bytes, bytes]) -> Run | None:
    if not raw:
        return None
    data = {k.decode(): v.decode() for k, v in raw.items()}
    run = Run(run_id=run_id, status=data.get("status", "queued"))
    for name in ("repo", "requester", "branch", "pr_url", "summary", "error", "given_up"):
        setattr(run, name, data.get(name, ""))
    run.number = int(data.get("number", 0))
    run.attempts = int(data.get("attempts", 0))
    for name in ("created_at", "started_at", "finished_at"):
        if data.get(name):
            setattr(run, name, float(data[name]))
    for name in _JSON_FIELDS:
        if data.get(name):
            setattr(run, name, json.loads(data[name]))
    if data.get("tracking_comment_id"):
        run.tracking_comment_id = int(data["tracking_comment_id"])
    return run


def update_run(conn: redis.Redis, run_id: str, **fields: Any) -> None:
    """Set fields of a run; dicts are stored as JSON, None clears a field."""
    if "status" in fields and fields["status"] not in STATUSES:
        raise ValueError(f"run status must be one of {STATUSES}, not {fields['status']!r}")
    now = time.time()
    if fields.get("status") == "running":
        fields.setdefault("started_at", now)
    if fields.get("status") in FINAL:
        fields.setdefault("finished_at", now)
    mapping, clear = {}, []
    for name, value in fields.items():
        if value is None:
            clear.append(name)
        elif isinstance(value, (dict, list)):
            mapping[name] = json.dumps(value)
        else:
            mapping[name] = repr(value) if isinstance(value, float) else str(value)
    pipe = conn.pipeline()
    if mapping:
        pipe.hset(run_key(run_id), mapping=mapping)
    if clear:
        pipe.hdel(run_key(run_id), *clear)
    pipe.execute()


def append_log(conn: redis.Redis, run_id: str, line: str) -> None:
    """Add one line to the run's log (callers redact first; the web page reads it live)."""
    stamp = time.strftime("%H:%M:%S", time.gmtime())
    conn.rpush(log_key(run_id), f"{stamp} {line[:MAX_LOG_LINE]}")


def read_log(conn: redis.Redis, run_id: str, start: int = 0) -> list[str]:
    return [line.decode("utf-8", "replace") for line in conn.lrange(log_key(run_id), start, -1)]


def phases_key(run_id: str) -> str:
    return f"codexbot:run:{run_id}:phases"


def diff_key(run_id: str) -> str:
    return f"codexbot:run:{run_id}:diff"


def transcript_key(run_id: str) -> str:
    return f"codexbot:run:{run_id}:transcript"


def record_phase(conn: redis.Redis, run_id: str, phase: str, at: float | None = None) -> None:
    """Note when the run entered a phase, for the run page's timeline; a repeat of the last phase is kept once."""
    entry = json.dumps({"phase": phase, "at": time.time() if at is None else at})
    last = conn.lindex(phases_key(run_id), -1)
    if last is None or json.loads(last)["phase"] != phase:
        conn.rpush(phases_key(run_id), entry)


def read_phases(conn: redis.Redis, run_id: str) -> list[tuple[str, float]]:
    """The phases the run went through, oldest first, with the time each began."""
    return [(item["phase"], float(item["at"])) for item in map(json.loads, conn.lrange(phases_key(run_id), 0, 99))]


def store_diff(conn: redis.Redis, run_id: str, diff: str) -> None:
    """Keep the run's change for the run page (callers redact first); a huge one is cut, saying so."""
    if len(diff) > MAX_STORED_DIFF:
        diff = diff[:MAX_STORED_DIFF] + f"\n[codexbot: the diff is longer than {MAX_STORED_DIFF} characters; cut here]\n"
    conn.set(diff_key(run_id), diff)


def cancel_key(run_id: str) -> str:
    return f"codexbot:run:{run_id}:cancel"


def request_cancel(conn: redis.Redis, run_id: str, by: str) -> None:
    """Ask a run to stop; the worker checks between phases and the agent loop at every step."""
    conn.set(cancel_key(run_id), by, ex=7 * 24 * 3600)


def cancel_requested(conn: redis.Redis, run_id: str) -> str | None:
    """Who asked this run to stop, or None."""
    who = conn.get(cancel_key(run_id))
    return who.decode() if who is not None else None
