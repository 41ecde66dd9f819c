"""GitHub's answers as the project's own values, and its refusals as ForgeErrors that say what to fix."""

from __future__ import annotations

import github

from jobs.forges.base import (Comment, ForgeAuthError, ForgeConflict, ForgeError, ForgeNotFound, ForgePermissionError,
                              ForgeUnavailable, PullRequest, ReviewComment)


def explain_error(error: github.GithubException, action: str, permission: str, missing: str) -> ForgeError:
    """A PyGithub failure as the ForgeError that says what to fix."""
    status, detail = error.status, detail_of(error)
    if isinstance(error, github.RateLimitExceededException) or status == 429:
        return ForgeUnavailable(f"GitHub's rate limit stopped the App trying to {action}: "
                                "wait for the limit to reset, then retry the job")
    if status == 401:
        return ForgeAuthError(f"GitHub rejected the App's token trying to {action}: it expired "
                              "or was revoked, so start the job again")
    if status == 403:
        return ForgePermissionError(f"the GitHub App may not {action} ({detail}): give it {permission} "
                                    "in the App's settings and accept it on the installation")
    if status == 404:
        return ForgeNotFound(missing or f"GitHub found nothing to {action}: check it exists "
                             "and the App is installed there")
    if status == 409:
        return ForgeConflict(f"GitHub refused to {action} because of a conflict ({detail}): "
                             "resolve it on GitHub, then retry")
    if status >= 500:
        return ForgeUnavailable(f"GitHub answered {status} trying to {action}: GitHub is having "
                                "trouble, retry the job later")
    return ForgeError(f"GitHub refused to {action} ({status}: {detail}): "
                      "fix what it names, then retry")


def detail_of(error: github.GithubException) -> str:
    """GitHub's message plus the messages inside `errors`, e.g. "A pull request already exists"."""
    data = error.data if isinstance(error.data, dict) else {}
    parts = [str(data.get("message") or error.message or "no message")]
    for item in data.get("errors") or []:
        if isinstance(item, dict):
            field_code = f"{item.get('field', '')} {item.get('code', '')}".strip()
            parts.append(str(item.get("message") or field_code))
    return "; ".join(p for p in parts if p)


def comment_of(comment) -> Comment:
    return Comment(id=comment.id, body=comment.body or "", url=comment.html_url,
                   author=comment.user.login)


def pull_of(pull) -> PullRequest:
    head_repo = pull.head.repo.full_name if pull.head.repo is not None else None
    return PullRequest(number=pull.number, url=pull.html_url, head_branch=pull.head.ref,
                       head_repo=head_repo, head_sha=pull.head.sha, base_branch=pull.base.ref,
                       state=pull.state, title=pull.title, body=pull.body or "", draft=bool(pull.draft),
                       author=pull.user.login if pull.user else "",
                       maintainer_can_modify=bool(pull.maintainer_can_modify))


def review_comment_of(comment) -> ReviewComment:
    return ReviewComment(id=comment.id, path=comment.path, line=comment.line or comment.original_line,
                         diff_hunk=comment.diff_hunk or "", body=comment.body or "",
                         author=comment.user.login if comment.user else "")


MAX_EVENTS = 1000  # an issue's events looked at, newest first, for who added a label


def latest_labeler(events_newest_first, label: str, kind: str = "labeled") -> str | None:
    """The login in the newest event of this kind ("labeled" or "unlabeled") for the label (names compare as
    GitHub's do, ignoring case)."""
    wanted = label.casefold()
    for seen, event in enumerate(events_newest_first):
        if seen >= MAX_EVENTS:
            return None
        if event.event == kind and event.label is not None and event.label.name.casefold() == wanted:
            return event.actor.login if event.actor is not None else None
    return None
