"""Viewers of the run pages, through the forges' OAuth: who they are and what they may read, asked with their
own token through the forge API, and remembered in Redis for a short time."""

from __future__ import annotations

from urllib.parse import urlencode

import github
import gitlab
import redis
import requests
from github import Auth, GithubException

from jobs.settings import Settings

CACHE_SECONDS = 300
TIMEOUT = 10
GITLAB_LEVELS = ((50, "admin"), (40, "maintain"), (30, "write"), (20, "read"), (10, "none"))


class ViewerAuthError(Exception):
    """Signing in failed; the message says what to fix."""


def github_web_url(api_url: str) -> str:
    """Where GitHub's web pages live: github.com for api.github.com, the host for GHES (/api/v3)."""
    api_url = api_url.rstrip("/")
    if api_url == "https://api.github.com":
        return "https://github.com"
    return api_url.removesuffix("/api/v3")


def authorize_url(settings: Settings, forge: str, redirect_uri: str, state: str) -> str:
    if forge == "github":
        query = {"client_id": settings.github_client_id, "redirect_uri": redirect_uri, "state": state}
        return f"{github_web_url(settings.github_api_url)}/login/oauth/authorize?{urlencode(query)}"
    query = {"client_id": settings.gitlab_client_id, "redirect_uri": redirect_uri, "state": state,
             "response_type": "code", "scope": "read_user read_api"}
    return f"{settings.gitlab_url.rstrip('/')}/oauth/authorize?{urlencode(query)}"


def exchange_code(settings: Settings, forge: str, code: str, redirect_uri: str) -> tuple[str, str]:
    """The viewer's (token, login) for the code the forge sent back."""
    if forge == "github":
        return _github_exchange(settings, code)
    return _gitlab_exchange(settings, code, redirect_uri)


def _github_exchange(settings: Settings, code: str) -> tuple[str, str]:
    client = github.Github(base_url=settings.github_api_url, timeout=TIMEOUT)
    app = client.get_oauth_application(settings.github_client_id, settings.github_client_secret)
    try:
        token = app.get_access_token(code).token
        login = github.Github(auth=Auth.Token(token), base_url=settings.github_api_url, timeout=TIMEOUT).get_user().login
    except GithubException as exc:
        raise ViewerAuthError(f"GitHub refused the sign-in ({exc.status}): check CODEXBOT_GITHUB_CLIENT_ID and "
                              "CODEXBOT_GITHUB_CLIENT_SECRET, then sign in again") from None
    return token, login


def _gitlab_exchange(settings: Settings, code: str, redirect_uri: str) -> tuple[str, str]:
    try:
        resp = requests.post(f"{settings.gitlab_url.rstrip('/')}/oauth/token", timeout=TIMEOUT, data={
            "client_id": settings.gitlab_client_id, "client_secret": settings.gitlab_client_secret, "code": code,
            "grant_type": "authorization_code", "redirect_uri": redirect_uri})
        answer = resp.json() if resp.status_code == 200 else {}
    except (requests.RequestException, ValueError):
        raise ViewerAuthError("GitLab did not answer the sign-in: try again shortly") from None
    if not isinstance(answer, dict) or "access_token" not in answer:
        raise ViewerAuthError(f"GitLab refused the sign-in ({resp.status_code}): check CODEXBOT_GITLAB_CLIENT_ID "
                              "and CODEXBOT_GITLAB_CLIENT_SECRET, then sign in again")
    token = answer["access_token"]
    try:
        gl = gitlab.Gitlab(settings.gitlab_url, oauth_token=token, timeout=TIMEOUT)
        gl.auth()
    except gitlab.GitlabError as exc:
        raise ViewerAuthError(f"GitLab did not accept the new sign-in token ({exc.response_code}): sign in again") from None
    return token, gl.user.username


def repository_permission(conn: redis.Redis, settings: Settings, forge: str, login: str, token: str, repo: str) -> str:
    """The viewer's permission on repo ("none", "read", "triage", "write", "maintain", "admin"), cached briefly."""
    key = f"codexbot:viewer-permission:{forge}:{login.lower()}:{repo.lower()}"
    cached = conn.get(key)
    if cached is not None:
        return cached.decode()
    level = _github_permission(settings, token, login, repo) if forge == "github" else _gitlab_permission(settings, token, repo)
    conn.set(key, level, ex=CACHE_SECONDS)
    return level


def _github_permission(settings: Settings, token: str, login: str, repo: str) -> str:
    client = github.Github(auth=Auth.Token(token), base_url=settings.github_api_url, timeout=TIMEOUT, lazy=True)
    try:
        return client.get_repo(repo).get_collaborator_permission(login)
    except GithubException as exc:
        if exc.status in (401, 403, 404):
            return "none"  # the viewer's token cannot see the repository
        raise ViewerAuthError(f"GitHub could not say who may read {repo} ({exc.status}): try again shortly") from None
    except (requests.RequestException, OSError):
        raise ViewerAuthError(f"GitHub did not answer who may read {repo}: try again shortly") from None


def _gitlab_permission(settings: Settings, token: str, repo: str) -> str:
    gl = gitlab.Gitlab(settings.gitlab_url, oauth_token=token, timeout=TIMEOUT)
    try:
        gl.auth()
        level = gl.projects.get(repo, lazy=True).members_all.get(gl.user.id).access_level
    except gitlab.GitlabError as exc:
        if exc.response_code in (401, 403, 404):
            return "none"
        raise ViewerAuthError(f"GitLab could not say who may read {repo} ({exc.response_code}): try again shortly") from None
    except (requests.RequestException, OSError):
        raise ViewerAuthError(f"GitLab did not answer who may read {repo}: try again shortly") from None
    return next((name for floor, name in GITLAB_LEVELS if level >= floor), "none")
