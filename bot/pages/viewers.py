"""What a signed-in viewer may read: their own token, asked through the forge API, cached in Redis briefly.
A failed answer raises ViewerAuthError; bot/pages/access.py turns it into the page that says so."""

from __future__ import annotations

from flask import g

from bot.state import get_redis, get_settings
from jobs.access.sessions import ViewerSessions
from jobs.access.viewers import repository_permission


def sessions() -> ViewerSessions:
    settings = get_settings()
    return ViewerSessions(get_redis(), settings.secret_key)


def permission_of(viewer, repo: str) -> str:
    """The viewer's permission on repo; "none" when their sign-in has ended (they are asked to sign in again)."""
    memo = g.setdefault("codexbot_permissions", {})
    if repo not in memo:
        token = sessions().token(viewer.sid)
        if token is None:
            memo[repo] = "none"
        else:
            memo[repo] = repository_permission(get_redis(), get_settings(), viewer.forge, viewer.login, token, repo)
    return memo[repo]
