"""The changes of a best-of run's attempts, kept so `/codex pick N` can put another attempt's change on the pull
request later: each as a binary patch against the base the attempts started from."""

from __future__ import annotations

import redis

KEPT_SECONDS = 30 * 24 * 3600


def attempts_key(run_id: str) -> str:
    return f"codexbot:attempts:{run_id}"


def keep_attempts(conn: redis.Redis, run_id: str, base_sha: str, patches: dict[int, str]) -> None:
    """Each attempt's patch by its number, and the base; kept for KEPT_SECONDS."""
    if not patches:
        return
    key = attempts_key(run_id)
    conn.hset(key, mapping={"base": base_sha, **{str(k): patch for k, patch in patches.items()}})
    conn.expire(key, KEPT_SECONDS)


def attempt_change(conn: redis.Redis, run_id: str, number: int) -> tuple[str, str] | None:
    """(base sha, patch) of attempt `number` of the run, or None when it made no change or is no longer kept."""
    base, patch = conn.hmget(attempts_key(run_id), "base", str(number))
    if base is None or patch is None:
        return None
    return base.decode(), patch.decode("utf-8", "surrogateescape")
