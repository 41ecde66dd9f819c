"""Liveness for load balancers and operators: 200 when Redis answers, 503 when it does not."""

from __future__ import annotations

import redis
from flask import Blueprint
from bot.state import get_redis

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    conn: redis.Redis = get_redis()
    try:
        conn.ping()
    except redis.RedisError as exc:
        return f"redis is not answering: {type(exc).__name__}\n", 503, {"Content-Type": "text/plain"}
    return "ok\n", 200, {"Content-Type": "text/plain"}
