"""The fields of a GitHub delivery that the event parser reads (bot/events/github.py, github_pulls.py), so the
webhook decodes only those: a comment delivery is about 14 KB of JSON of which the parser reads a few hundred
bytes, and building (then freeing) the rest was the largest part of answering one.

Each field's value is taken as it comes (`Any`) unless the parser reads inside it. A body that does not fit
(a field the parser descends into is not an object, the text is not valid UTF-8, a lone surrogate, malformed
JSON) is read whole instead, so the parser says what is wrong exactly as it does for any payload.
tests/bot/events/test_github_fields.py holds the parser's outcome on every corpus payload (and on variants of
them that start runs) equal whether it was decoded whole or through these fields.
"""

from __future__ import annotations

from typing import Any, TypedDict

import msgspec


class User(TypedDict, total=False):
    login: Any
    type: Any


class Comment(TypedDict, total=False):
    body: Any
    id: Any
    html_url: Any
    user: User


class Issue(TypedDict, total=False):
    number: Any
    state: Any
    title: Any
    body: Any
    html_url: Any
    pull_request: Any  # only whether it is there


class Repository(TypedDict, total=False):
    full_name: Any
    id: Any


class Installation(TypedDict, total=False):
    id: Any


class Label(TypedDict, total=False):
    name: Any


class Review(TypedDict, total=False):
    id: Any
    state: Any
    body: Any
    html_url: Any


class Head(TypedDict, total=False):
    ref: Any


class PullRequest(TypedDict, total=False):
    number: Any
    state: Any
    draft: Any
    title: Any
    html_url: Any
    user: User
    head: Head


class App(TypedDict, total=False):
    slug: Any


class PullOfCheck(TypedDict, total=False):
    number: Any
    html_url: Any
    head: Head


class CheckSuite(TypedDict, total=False):
    conclusion: Any
    app: App
    pull_requests: list[PullOfCheck]


class CheckRun(TypedDict, total=False):
    conclusion: Any
    app: App
    check_suite: CheckSuite


class Payload(TypedDict, total=False):
    action: Any
    sender: User
    repository: Repository
    installation: Installation | None
    comment: Comment
    issue: Issue
    label: Label
    review: Review
    pull_request: PullRequest
    check_suite: CheckSuite
    check_run: CheckRun


PAYLOAD = msgspec.json.Decoder(Payload)
