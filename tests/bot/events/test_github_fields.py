"""Decoding only the fields the parser reads (bot/events/github_fields.py) changes no outcome: on every GitHub
corpus payload, and on variants of them that start runs, the parser answers the same from the fields alone as
from the whole payload, and a body that does not fit the fields is read whole."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from bot.events.fields import PayloadError, Rules
from bot.events.github import parse_github_event
from bot.events.github_fields import PAYLOAD
from bot.webhooks.delivery import _only_fields
from jobs.types import Trigger
from tests.payloads import CORPUS, corpus_files

RULES = (Rules(), Rules(bot_logins=frozenset({"codexbot[bot]"})), Rules(bot_logins=frozenset({"octocat"})))


def outcome(event: str, payload: dict, rules: Rules):
    try:
        return parse_github_event(event, payload, rules)
    except PayloadError as exc:
        return f"PayloadError: {exc}"


def variants(event: str, payload: dict) -> list[dict]:
    """The payload, and copies changed the ways that make the parser go further (a command, the codex label,
    an open issue, codexbot's own pull request, a failed check)."""
    out = [payload]
    for body in ("/codex fix the flaky test", "/codex", "/codex review security", "/codex fix-ci", "/codex status"):
        for state in ("open", "closed"):
            each = copy.deepcopy(payload)
            for key in ("comment", "review"):
                if isinstance(each.get(key), dict):
                    each[key]["body"] = body
            for key in ("issue", "pull_request"):
                if isinstance(each.get(key), dict):
                    each[key]["state"] = state
            out.append(each)
    if isinstance(payload.get("label"), dict):
        out.append(dict(copy.deepcopy(payload), label={"name": "Codex"}))
    if isinstance(payload.get("review"), dict):
        each = copy.deepcopy(payload)
        each["review"]["state"] = "CHANGES_REQUESTED"
        each["pull_request"].update(state="open", user={"login": "codexbot[bot]", "type": "Bot"},
                                    head={"ref": "codex/issue-1"})
        out.append(each)
    if isinstance(payload.get("pull_request"), dict):
        for action, draft in (("opened", False), ("ready_for_review", False), ("opened", True)):
            each = dict(copy.deepcopy(payload), action=action)
            each["pull_request"].update(state="open", draft=draft)
            out.append(each)
    return out


def corpus_cases() -> list[tuple[str, Path]]:
    return [(path.parent.name, path) for path in corpus_files("github")]


@pytest.mark.parametrize("event,path", corpus_cases(), ids=lambda v: str(v.relative_to(CORPUS)) if isinstance(v, Path) else v)
def test_the_fields_alone_give_the_parser_the_same_outcome_as_the_whole_payload(event, path):
    for payload in variants(event, json.loads(path.read_text(encoding="utf-8"))):
        body = json.dumps(payload).encode()
        fields = _only_fields(PAYLOAD, body)
        assert fields is not None, "a real payload fits the fields"
        assert len(json.dumps(fields)) < len(body)
        for rules in RULES:
            assert outcome(event, fields, rules) == outcome(event, payload, rules)


def check_payloads() -> list[tuple[str, dict]]:
    base = json.loads((CORPUS / "github" / "pull_request" / "opened.json").read_text(encoding="utf-8"))
    pull = {"number": 7, "url": "https://api.github.com/repos/o/r/pulls/7", "html_url": "https://github.com/o/r/pull/7",
            "head": {"ref": "codex/issue-3", "sha": "a" * 40}, "base": {"ref": "main", "sha": "b" * 40}}
    out = []
    for conclusion in ("failure", "success", "neutral"):
        for app in ("github-actions", "codexbot"):
            suite = {"id": 9, "head_branch": "codex/issue-3", "conclusion": conclusion, "status": "completed",
                     "pull_requests": [dict(pull, head={"ref": ref}) for ref in ("feature", "codex/issue-3")],
                     "app": {"id": 15368, "slug": app, "name": app}}
            common = {"action": "completed", "repository": base["repository"], "sender": base["sender"],
                      "installation": {"id": 42}}
            out.append(("check_suite", dict(common, check_suite=suite)))
            out.append(("check_run", dict(common, check_run={"id": 5, "name": "test", "conclusion": conclusion,
                                                            "app": suite["app"], "check_suite": suite})))
    return out


def test_check_deliveries_give_the_same_outcome_too():
    triggers = 0
    for event, payload in check_payloads():
        fields = _only_fields(PAYLOAD, json.dumps(payload).encode())
        for rules in RULES:
            result = outcome(event, fields, rules)
            assert result == outcome(event, payload, rules)
            triggers += isinstance(result, Trigger)
    assert triggers >= 6


def test_the_variants_start_runs_of_every_kind_the_parser_knows():
    kinds = set()
    for event, path in corpus_cases():
        for payload in variants(event, json.loads(path.read_text(encoding="utf-8"))):
            result = outcome(event, _only_fields(PAYLOAD, json.dumps(payload).encode()), Rules(bot_logins=frozenset({"codexbot[bot]"})))
            if isinstance(result, Trigger):
                kinds.add((event, result.command.kind))
    assert {("issue_comment", "task"), ("issue_comment", "review"), ("issues", "task"), ("issues", "cancel"),
            ("pull_request_review", "task"), ("pull_request_review_comment", "task"),
            ("pull_request", "review")} <= kinds


@pytest.mark.parametrize("body", [
    b'{"action": "created", "comment": null}',  # a field the parser reads into is not an object
    b'{"action": "created", "comment": {"user": "octocat"}}',
    b'{"action": "created", "extra": "\xff\xfe"}',  # not UTF-8, in a field the parser never reads
    b'{"action": "created", "extra": "\\ud800"}',  # a lone surrogate
    b'{"action": "created", "extra": NaN}',
    b'[{"action": "created"}]',
    b'{"action": "created"} trailing',
])
def test_a_body_that_does_not_fit_the_fields_is_read_whole(body):
    assert _only_fields(PAYLOAD, body) is None
