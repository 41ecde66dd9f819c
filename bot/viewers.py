"""What a signed-in viewer may read: their own token, asked through the forge API, cached in Redis briefly."""

from __future__ import annotations

from flask import current_app, g

from jobs.viewer_access import ViewerAuthError, repository_permission
from jobs.viewer_sessions import ViewerSessions


def sessions() -> ViewerSessions:
    settings = current_app.config["CODEXBOT_SETTINGS"]
    return ViewerSessions(current_app.extensions["codexbot.redis"], settings.secret_key)


def permission_of(viewer, repo: str) -> str:
    """The viewer's permission on repo; "none" when their sign-in has ended (they are asked to sign in again)."""
    memo = g.setdefault("codexbot_permissions", {})
    if repo not in memo:
        token = sessions().token(viewer.sid)
        if token is None:
            memo[repo] = "none"
        else:
            settings = current_app.config["CODEXBOT_SETTINGS"]
            try:
                memo[repo] = repository_permission(current_app.extensions["codexbot.redis"], settings, viewer.forge,
                                                   viewer.login, token, repo)
            except ViewerAuthError as exc:
                from bot.access import fail
                fail(502, str(exc))
    return memo[repo]
