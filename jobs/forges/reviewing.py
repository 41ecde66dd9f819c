"""What reviews and CI repairs ask of a forge beyond the base protocol: a pull request's head as a git ref,
posting one review with line comments, the findings already posted, and the failing checks of a commit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

FINDING_MARK = "<!-- codexbot:finding="  # hidden in each line comment: the key a later review compares


@dataclass(frozen=True)
class LineComment:
    """A comment on a line of the pull request's new side (`line` counts from 1 in the head's file)."""

    path: str
    line: int
    body: str


@dataclass(frozen=True)
class PostedReview:
    url: str
    comments: int  # line comments the forge accepted


@dataclass(frozen=True)
class FailedCheck:
    """One failing CI job: its name, where to see it, and the end of its log (already cut to a tail)."""

    name: str
    url: str
    log_tail: str


@dataclass(frozen=True)
class ChecksState:
    """The CI of one commit: "pending" while any job runs, else "failure" or "success" (also with no CI)."""

    state: str
    failed: tuple[FailedCheck, ...] = ()


def finding_keys(bodies: list[str]) -> set[str]:
    """The finding keys hidden in comment bodies."""
    keys = set()
    for body in bodies:
        start = body.find(FINDING_MARK)
        if start >= 0:
            end = body.find(" -->", start)
            keys.add(body[start + len(FINDING_MARK): end if end > 0 else None].strip())
    return keys


@runtime_checkable
class PullReviews(Protocol):
    """Reviews of pull (merge) requests: GitHub pull request reviews, GitLab merge request discussions."""

    def head_ref(self, number: int) -> str:
        """The ref the forge keeps the pull request's head at in the base repository, forks included."""

    def post_review(self, number: int, head_sha: str, base_sha: str, summary: str,
                    comments: list[LineComment]) -> PostedReview:
        """One review: the summary and the line comments, all anchored on the head commit."""

    def find_review(self, number: int, marker: str) -> str | None:
        """The URL of a review (GitHub) or note (GitLab) whose body holds marker: a retried job posts nothing twice."""

    def open_finding_keys(self, number: int) -> set[str]:
        """The keys of codexbot's findings on the pull request that are still open: on GitHub a line comment not
        outdated by a later push, on GitLab an unresolved discussion."""


@runtime_checkable
class CiChecks(Protocol):
    """The CI results of a commit: GitHub check runs and commit statuses, GitLab pipelines' jobs."""

    def checks(self, number: int, head_sha: str, own_check: str, tail_lines: int) -> ChecksState:
        """The state of the head commit's CI, without codexbot's own check (named own_check); failing jobs
        with the last tail_lines of their logs."""
