"""What a signed-in viewer may read: their own token, asked through the forge API, cached in Redis briefly."""

from __future__ import annotations

from flask import g

from jobs.access.viewers import ViewerAuthError, repository_permission
from jobs.access.sessions import ViewerSessions
from bot.state import get_redis, get_settings


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
            settings = get_settings()
            try:
                memo[repo] = repository_permission(get_redis(), settings, viewer.forge,
                                                   viewer.login, token, repo)
            except ViewerAuthError as exc:
                from bot.pages.access import fail
                fail(502, str(exc))
    return memo[repo]
