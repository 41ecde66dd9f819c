"""GitLab's answers in the project's words, and its refusals as ForgeErrors that say what to fix."""

from __future__ import annotations

from gitlab.exceptions import GitlabError

from jobs.forges.base import (ForgeAuthError, ForgeConflict, ForgeError, ForgeNotFound, ForgePermissionError,
                              ForgeUnavailable, PullRequest)

# GitLab access levels (10 guest … 50 owner) as the GitHub roles the pipeline compares.
ROLES = ((50, "admin"), (40, "maintain"), (30, "write"), (20, "triage"), (10, "read"))
EMOJI = {"+1": "thumbsup", "-1": "thumbsdown", "laugh": "laughing", "hooray": "tada"}  # GitHub → GitLab
STATES = {"success": "success", "neutral": "canceled", "skipped": "canceled", "cancelled": "canceled",
          "failure": "failed", "timed_out": "failed", "action_required": "failed", "stale": "failed"}
DESCRIPTION_LIMIT = 255  # GitLab cuts commit status descriptions; we cut first, with an ellipsis
PER_PAGE, MAX_PAGES = 100, 10  # label events looked at, newest page first, for who added a label
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


def pull_of(mr: dict, head_repo: str | None) -> PullRequest:
    """A merge request as the pipeline's PullRequest; head_repo is the source project's path."""
    return PullRequest(number=mr["iid"], url=mr["web_url"], head_branch=mr["source_branch"], head_repo=head_repo,
                       head_sha=mr.get("sha") or "", base_branch=mr["target_branch"], state=state_of(mr["state"]),
                       title=mr["title"], body=mr.get("description") or "",
                       draft=bool(mr.get("draft")) or is_draft_title(mr["title"]),
                       author=(mr.get("author") or {}).get("username", ""),
                       maintainer_can_modify=bool(mr.get("allow_collaboration")))


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


def latest_label_actor(events, label: str, action: str = "add") -> str | None:
    """The username in the newest event of this action ("add" or "remove") for the label, reading an issue's
    resource label events (a python-gitlab manager) from the last page back, at most MAX_PAGES pages; GitLab
    lists them oldest first."""
    pages = events.list(iterator=True, per_page=PER_PAGE).total_pages or 0  # None past 10,000: not looked at
    wanted = label.casefold()
    for page in range(pages, max(pages - MAX_PAGES, 0), -1):
        for event in reversed(events.list(page=page, per_page=PER_PAGE, get_all=False)):
            name = (event.attributes.get("label") or {}).get("name") or ""
            if event.attributes.get("action") == action and name.casefold() == wanted:
                return (event.attributes.get("user") or {}).get("username")
    return None
