"""What a delegated run keeps in Redis besides its run record: who asked (per user) and its result diff."""

from __future__ import annotations

import base64
import json

import redis

RESULT_TTL = 30 * 24 * 3600
MAX_LISTED = 100


def user_runs_key(user: str) -> str:
    return f"codexbot:apiruns:{user}"


def result_key(run_id: str) -> str:
    """Not the run page's diff key: this one also holds the preimages, and archiving leaves it in Redis."""
    return f"codexbot:run:{run_id}:result"


def index_run(conn: redis.Redis, user: str, run_id: str, created_at: float) -> None:
    """Remember the run under the user who delegated it, for `codexbot runs`."""
    conn.zadd(user_runs_key(user), {run_id: created_at})


def user_runs(conn: redis.Redis, user: str, limit: int = MAX_LISTED) -> list[str]:
    """The user's delegated runs, newest first."""
    return [item.decode() for item in conn.zrevrange(user_runs_key(user), 0, limit - 1)]


def store_result(conn: redis.Redis, run_id: str, diff: str, base_sha: str, preimages: dict[str, bytes]) -> None:
    """The agent's change from the base commit plus the user's diff, and the files it changed as they were
    before it (so `codexbot apply` can merge three-way when the user has edited them since)."""
    data = {"diff": diff, "base_commit": base_sha,
            "preimages": {path: base64.b64encode(content).decode() for path, content in preimages.items()}}
    conn.set(result_key(run_id), json.dumps(data), ex=RESULT_TTL)


def load_result(conn: redis.Redis, run_id: str) -> dict | None:
    raw = conn.get(result_key(run_id))
    return json.loads(raw) if raw is not None else None
