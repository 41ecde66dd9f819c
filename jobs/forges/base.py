"""The small forge protocol the pipeline needs, its value types and its errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

PERMISSIONS = ("admin", "maintain", "write", "triage", "read", "none")


class ForgeError(Exception):
    """A forge call failed; the message is one sentence saying what happened and what to fix."""


def decode_text(data: bytes, where: str) -> str:
    """A file read from the forge as text; `where` names it ("path at ref in repo") in the error."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ForgeError(f"{where} is not UTF-8 text: save it as UTF-8") from None


class ForgeAuthError(ForgeError):
    """The forge rejected our credentials (bad App key, revoked or expired token)."""


class ForgeNotFound(ForgeError):
    """The thing is missing, or the credentials cannot see it (forges answer 404 for both)."""


class ForgePermissionError(ForgeError):
    """The credentials are valid but lack a permission the call needs."""


class ForgeConflict(ForgeError):
    """The forge refused because of existing state, e.g. a pull request already exists."""


class ForgeUnavailable(ForgeError):
    """The forge did not answer usefully: 5xx, timeout, network error or rate limit."""


@dataclass(frozen=True)
class Repository:
    full_name: str
    id: int
    default_branch: str
    clone_url: str
    html_url: str


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str
    head_branch: str
    head_repo: str | None  # None when the fork it came from was deleted
    head_sha: str
    base_branch: str
    state: str
    title: str
    body: str
    draft: bool = False
    author: str = ""  # who opened it (login or username)
    maintainer_can_modify: bool = False  # GitHub: the fork lets maintainers push to its branch


@dataclass(frozen=True)
class Issue:
    number: int
    title: str
    body: str
    state: str
    url: str
    is_pull_request: bool
    pull: PullRequest | None = None


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    url: str
    author: str


@dataclass(frozen=True)
class ReviewComment:
    """A comment on a line of a pull request, with the hunk of the diff it refers to."""

    id: int
    path: str
    line: int | None
    diff_hunk: str
    body: str
    author: str


@dataclass(frozen=True)
class GitCredentials:
    """What the workspace's credential helper answers; repr hides the password."""

    username: str
    password: str = field(repr=False)


class Forge(Protocol):
    """What the pipeline asks of a forge; adapters return the types above and raise ForgeError."""

    def repository(self) -> Repository: ...

    def issue(self, number: int) -> Issue: ...

    def permission(self, login: str) -> str: ...

    def comment(self, number: int, body: str) -> Comment: ...

    def edit_comment(self, comment_id: int, body: str) -> None: ...

    def find_comment(self, number: int, marker: str) -> Comment | None: ...

    def read_comment(self, number: int, comment_id: int) -> Comment: ...

    def labeled_by(self, number: int, label: str, removed: bool = False) -> str | None:
        """Who last added (removed: took off) the label on the issue, by the forge's event history; None when
        nobody did."""

    def react(self, number: int, comment_id: int | None, content: str) -> None: ...

    def find_pull_request(self, head_branch: str) -> PullRequest | None: ...

    def open_pull_request(self, head_branch: str, base_branch: str, title: str, body: str,
                          draft: bool = False) -> PullRequest: ...

    def update_pull_request(self, number: int, *, title: str | None = None,
                            body: str | None = None) -> PullRequest: ...

    def read_file(self, path: str, ref: str) -> str | None: ...

    def git_credentials(self, write: bool) -> GitCredentials: ...

    def start_check(self, head_sha: str, name: str, details_url: str) -> int: ...

    def finish_check(self, check_id: int, conclusion: str, title: str, summary: str) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class ReviewThreads(Protocol):
    """Line comments of pull request reviews (GitHub); GitLab's diff notes arrive as plain notes instead."""

    def review_comments(self, number: int, review_id: int) -> list[ReviewComment]: ...

    def review_comment(self, number: int, comment_id: int) -> ReviewComment: ...

    def reply_to_review_comment(self, number: int, comment_id: int, body: str) -> None: ...
