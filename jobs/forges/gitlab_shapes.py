"""GitLab's answers in the project's words, and its refusals as ForgeErrors that say what to fix."""

from __future__ import annotations

from gitlab.exceptions import GitlabError

from jobs.forges.base import (ForgeAuthError, ForgeConflict, ForgeError, ForgeNotFound, ForgePermissionError,
                              ForgeUnavailable)

ADD_TOKEN = ("create a project access token with the api and write_repository scopes and store it with "
             "`codexbot gitlab add-token PROJECT`")


def explain_error(error: GitlabError, action: str, missing: str) -> ForgeError:
    """A python-gitlab failure as the ForgeError that says what to fix."""
    status, detail = error.response_code or 0, detail_of(error)
    if status == 401:
        return ForgeAuthError(f"the GitLab token was rejected trying to {action}: {ADD_TOKEN}")
    if status == 403:
        return ForgePermissionError(f"the GitLab token may not {action} ({detail}): give it the api "
                                    "scope and the Developer role or higher, or " + ADD_TOKEN)
    if status == 404:
        return ForgeNotFound(missing or f"GitLab found nothing to {action}: check it exists and that "
                             "the token belongs to this project or a group above it")
    if status == 409:
        return ForgeConflict(f"GitLab refused to {action} because of a conflict ({detail}): "
                             "resolve it on GitLab, then retry")
    if status == 429 or status >= 500:
        return ForgeUnavailable(f"GitLab answered {status} trying to {action}: it is rate limiting or "
                                "having trouble, so retry the job in a few minutes")
    return ForgeError(f"GitLab refused to {action} ({status}: {detail}): fix what it names, then retry")


def is_draft_title(title: str) -> bool:
    """GitLab's draft markers at the start of a merge request's title."""
    return title.lower().startswith(("draft:", "[draft]", "(draft)"))


def state_of(state: str) -> str:
    """GitLab's "opened" as GitHub's "open"; closed, merged and locked stay as they are."""
    return "open" if state == "opened" else state


def detail_of(error: GitlabError) -> str:
    """GitLab's message: a string, a list of strings, or a dict of field → list of strings."""
    message = error.error_message
    if isinstance(message, list):
        return "; ".join(str(m) for m in message)
    if isinstance(message, dict):
        return "; ".join(f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in message.items())
    return str(message or "no message")
