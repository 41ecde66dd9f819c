"""The fields of a GitLab delivery that the webhook and the event parser read (bot/webhooks/gitlab.py,
bot/events/gitlab.py, gitlab_pulls.py), so the webhook decodes only those, as it does for GitHub
(bot/events/github_fields.py says why, and what happens to a body that does not fit).
tests/bot/events/test_gitlab_fields.py holds the outcome equal to decoding the whole payload.
"""

from __future__ import annotations

from typing import Any, TypedDict

import msgspec


class User(TypedDict, total=False):
    username: Any
    bot: Any


class Project(TypedDict, total=False):
    id: Any
    path_with_namespace: Any


class Attributes(TypedDict, total=False):
    """object_attributes of a note, an issue, a merge request or a pipeline."""

    id: Any
    iid: Any
    action: Any
    url: Any
    state: Any
    title: Any
    description: Any
    note: Any
    noteable_type: Any
    confidential: Any
    draft: Any
    work_in_progress: Any
    status: Any
    ref: Any
    tag: Any


class Target(TypedDict, total=False):
    """The issue or merge request a note is on, or a pipeline's merge request."""

    iid: Any
    state: Any
    title: Any
    description: Any
    source_branch: Any
    source_project_id: Any
    target_project_id: Any


class Label(TypedDict, total=False):
    title: Any


class LabelChange(TypedDict, total=False):
    previous: list[Label]
    current: list[Label]


class Changes(TypedDict, total=False):
    labels: LabelChange | None
    draft: Any
    work_in_progress: Any
    title: Any


class Build(TypedDict, total=False):
    status: Any
    allow_failure: Any


class Payload(TypedDict, total=False):
    object_kind: Any
    user: User
    project: Project
    project_id: Any
    object_attributes: Attributes
    issue: Target | None
    merge_request: Target | None  # null in a branch pipeline's hook
    changes: Changes | None
    builds: list[Build] | None


PAYLOAD = msgspec.json.Decoder(Payload)
