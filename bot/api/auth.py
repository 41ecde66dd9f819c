"""Who is calling /api/: a bearer token checked against the stored hashes, and its per-minute budget."""

from __future__ import annotations

from functools import wraps

from flask import g, jsonify, request

from jobs.access.api_tokens import ApiToken, ApiTokens, take_request
from bot.state import get_redis, get_settings

QUERY = {"api.run_log": {"from", "wait"}}  # the query parameters each endpoint takes; any other is a 400


def error(status: int, message: str, **headers: str):
    """One JSON answer with the sentence that says what was wrong."""
    response = jsonify({"error": message})
    response.status_code = status
    response.headers.update(headers)
    return response


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def token_required(view):
    """The token is verified before the body is read; a token over its budget gets 429 with Retry-After."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        settings = get_settings()
        conn = get_redis()
        text = _bearer()
        if not text:
            return error(401, "this API needs a token: send `Authorization: Bearer <token>` "
                              "(create one with `codexbot token create`)", **{"WWW-Authenticate": "Bearer"})
        if not settings.secret_key:
            return error(503, "the server has no CODEXBOT_SECRET_KEY, which API tokens need: set it and restart")
        token = ApiTokens(conn, settings.secret_key).verify(text)
        if token is None:
            return error(401, "the token is unknown, revoked or expired: create a new one with "
                              "`codexbot token create`", **{"WWW-Authenticate": "Bearer"})
        wait = take_request(conn, token.token_id, settings.api_rate_per_minute)
        if wait:
            return error(429, f"this token made more than {settings.api_rate_per_minute} requests this minute: "
                              f"try again in {wait} s", **{"Retry-After": str(wait)})
        unknown = sorted(set(request.args) - QUERY.get(request.endpoint or "", set()))
        if unknown:
            return error(400, f"unknown query parameter {unknown[0]!r}; this endpoint takes "
                              f"{', '.join(sorted(QUERY.get(request.endpoint or '', ()))) or 'none'}")
        g.api_token = token
        return view(*args, **kwargs)

    return wrapper


def current_token() -> ApiToken:
    return g.api_token
