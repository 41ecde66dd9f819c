"""Decoding only the fields read (bot/events/gitlab_fields.py) changes no outcome: on every GitLab corpus payload,
on variants of them that start runs, and on pipeline hooks, the parser answers the same from the fields alone as
from the whole payload, and the project the webhook checks is the same."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from bot.events.fields import PayloadError, Rules
from bot.events.gitlab import parse_gitlab_event
from bot.events.gitlab_fields import PAYLOAD
from bot.webhooks.delivery import _only_fields
from jobs.types import Trigger
from tests.payloads import CORPUS, corpus_files

EVENTS = {"issue": "Issue Hook", "merge_request": "Merge Request Hook", "note": "Note Hook", "push": "Push Hook",
          "system_hook": "System Hook"}
RULES = (Rules(), Rules(bot_logins=frozenset({"codexbot"})), Rules(bot_logins=frozenset({"root"})))


def outcome(event: str, payload: dict, rules: Rules):
    try:
        return parse_gitlab_event(event, payload, rules)
    except PayloadError as exc:
        return f"PayloadError: {exc}"


def variants(payload: dict) -> list[dict]:
    """The payload, and copies changed the ways that make the parser go further."""
    out = [payload]
    attrs = payload.get("object_attributes")
    if not isinstance(attrs, dict):
        return out
    for note in ("/codex fix the flaky test", "/codex", "/codex review", "/codex fix-ci", "/codex cancel"):
        for state in ("opened", "closed"):
            each = copy.deepcopy(payload)
            each["object_attributes"].update(note=note, action="create")
            for key in ("issue", "merge_request"):
                if isinstance(each.get(key), dict):
                    each[key]["state"] = state
            out.append(each)
    for before, after, confidential in ((["bug"], ["bug", "Codex"], False), (["bug"], ["codex"], True),
                                        (["codex"], [], False), ([], [], False)):
        each = copy.deepcopy(payload)
        each["object_attributes"].update(state="opened", confidential=confidential)
        each["changes"] = {"labels": {"previous": [{"title": t} for t in before],
                                      "current": [{"title": t} for t in after]}}
        out.append(each)
    ready = {"previous": True, "current": False}
    for action, changes, draft in (("open", {}, False), ("open", {}, True), ("reopen", {}, False),
                                   ("update", {"draft": ready}, False), ("update", {"work_in_progress": ready}, False),
                                   ("update", {"title": {"previous": "Draft: x", "current": "x"}}, False),
                                   ("update", {}, False)):
        each = copy.deepcopy(payload)
        each["object_attributes"].update(action=action, state="opened", draft=draft, work_in_progress=False)
        each["changes"] = changes
        out.append(each)
        if action == "open" and not draft:
            out.append(dict(copy.deepcopy(each), object_attributes=dict(each["object_attributes"], work_in_progress=True)))
    if isinstance(payload.get("user"), dict):  # a bot by GitLab's flag, not by its name
        each = copy.deepcopy(out[1])
        each["user"]["bot"] = True
        out.append(each)
    if isinstance(payload.get("project"), dict):  # the project's id only at the top (older GitLab)
        each = copy.deepcopy(out[1])
        each["project_id"] = each["project"].pop("id", 5)
        out.append(each)
    return out


def corpus_cases() -> list[tuple[str, Path]]:
    return [(EVENTS[path.parent.name], path) for path in corpus_files("gitlab")]


def fields_of(payload: dict) -> dict:
    fields = _only_fields(PAYLOAD, json.dumps(payload).encode())
    assert fields is not None, "a real payload fits the fields"
    return fields


@pytest.mark.parametrize("event,path", corpus_cases(), ids=lambda v: str(v.relative_to(CORPUS)) if isinstance(v, Path) else v)
def test_the_fields_alone_give_the_parser_the_same_outcome_as_the_whole_payload(event, path):
    for payload in variants(json.loads(path.read_text(encoding="utf-8"))):
        fields = fields_of(payload)
        assert (fields.get("project") or {}).get("path_with_namespace") == \
            (payload.get("project") or {}).get("path_with_namespace")  # what the webhook checks against the token
        for hook in {event, "Note Hook", "Issue Hook", "Merge Request Hook"}:
            for rules in RULES:
                assert outcome(hook, fields, rules) == outcome(hook, payload, rules)


def pipeline_hooks() -> list[dict]:
    base = json.loads((CORPUS / "gitlab" / "merge_request" / "open.json").read_text(encoding="utf-8"))
    mr = {"id": 99, "iid": 4, "title": "Fix it", "source_branch": "codex/issue-3", "source_project_id": 1,
          "target_branch": "main", "target_project_id": 1, "state": "opened", "url": "http://gitlab.test/o/r/-/merge_requests/4"}
    out = []
    for status in ("failed", "success", "running"):
        for merge_request, tag in ((mr, False), (dict(mr, source_project_id=2), False),
                                   (dict(mr, source_branch="feature"), False), (None, False), (None, True)):
            for builds in ([{"id": 1, "status": "failed", "allow_failure": False, "name": "test"}],
                           [{"id": 1, "status": "failed", "allow_failure": True, "name": "lint"}]):
                attrs = {"id": 7, "iid": 3, "ref": "codex/issue-3", "tag": tag, "status": status, "sha": "a" * 40,
                         "url": "http://gitlab.test/o/r/-/pipelines/7", "variables": []}
                out.append({"object_kind": "pipeline", "object_attributes": attrs, "merge_request": merge_request,
                            "user": base["user"], "project": base["project"], "builds": builds,
                            "commit": {"id": "a" * 40, "message": "fix"}})
    return out


def test_pipeline_hooks_give_the_same_outcome_too():
    triggers = 0
    for payload in pipeline_hooks():
        fields = fields_of(payload)
        for rules in RULES:
            result = outcome("Pipeline Hook", fields, rules)
            assert result == outcome("Pipeline Hook", payload, rules)
            triggers += isinstance(result, Trigger)
    assert triggers >= 3


def test_the_variants_start_runs_of_every_kind_the_parser_knows():
    kinds = set()
    for event, path in corpus_cases():
        for payload in variants(json.loads(path.read_text(encoding="utf-8"))):
            for hook in ("Note Hook", "Issue Hook", "Merge Request Hook"):
                result = outcome(hook, fields_of(payload), Rules())
                if isinstance(result, Trigger):
                    kinds.add((hook, result.command.kind))
    assert {("Note Hook", "task"), ("Note Hook", "review"), ("Note Hook", "cancel"), ("Issue Hook", "task"),
            ("Issue Hook", "cancel"), ("Merge Request Hook", "review")} <= kinds


@pytest.mark.parametrize("body", [
    b'{"object_kind": "note", "object_attributes": null}',
    b'{"object_kind": "note", "user": "root"}',
    b'{"object_kind": "issue", "changes": {"labels": {"current": ["codex"]}}}',
    b'{"object_kind": "note", "extra": "\xff\xfe"}',
    b'{"object_kind": "note", "extra": "\\udc00"}',
])
def test_a_body_that_does_not_fit_the_fields_is_read_whole(body):
    assert _only_fields(PAYLOAD, body) is None
