"""GitLab payloads → triggers, checked against every example payload in the corpus."""

import copy

import pytest

from bot.events.fields import Ignored, PayloadError, Rules
from bot.events.gitlab import parse_gitlab_event
from jobs.types import Trigger
from tests.payloads import corpus_files, load_corpus

RULES = Rules()
EVENTS = {"note": "Note Hook", "issue": "Issue Hook", "merge_request": "Merge Request Hook",
          "push": "Push Hook", "system_hook": "System Hook"}
GITLAB_FILES = corpus_files("gitlab")


def note(name, body="/codex fix the failing test"):
    payload = copy.deepcopy(load_corpus("gitlab", "note", name))
    payload["object_attributes"]["note"] = body
    if "issue" in payload:
        payload["issue"]["state"] = "opened"  # the documentation's example comments on a closed issue
    return payload


def test_corpus_is_there():
    assert len(GITLAB_FILES) >= 13


@pytest.mark.parametrize("path", GITLAB_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_corpus_payload_parses_as_it_is(path):
    result = parse_gitlab_event(EVENTS[path.parent.name], load_corpus("gitlab", path.parent.name, path.name), RULES)
    assert isinstance(result, Ignored) and result.reason


def test_note_on_an_issue_gives_the_right_trigger():
    payload = note("issue.json")
    result = parse_gitlab_event("Note Hook", payload, RULES)
    assert isinstance(result, Trigger)
    assert (result.forge, result.repo, result.repo_id) == ("gitlab", payload["project"]["path_with_namespace"], payload["project"]["id"])
    assert (result.number, result.is_pull_request, result.author) == (payload["issue"]["iid"], False, payload["user"]["username"])
    assert result.comment_id == payload["object_attributes"]["id"] and result.installation_id is None
    assert (result.command.kind, result.command.text) == ("task", "fix the failing test")


@pytest.mark.parametrize("name", ["merge_request.json", "merge_request.diff-note.json"])
def test_notes_on_merge_requests_including_old_diff_notes_without_action(name):
    payload = note(name)
    result = parse_gitlab_event("Note Hook", payload, RULES)
    assert isinstance(result, Trigger), result
    assert result.is_pull_request and result.number == payload["merge_request"]["iid"]


@pytest.mark.parametrize("name", ["commit.json", "snippet.json"])
def test_notes_on_commits_and_snippets_are_ignored(name):
    assert isinstance(parse_gitlab_event("Note Hook", note(name), RULES), Ignored)


def test_the_documented_note_on_a_closed_issue_is_ignored():
    payload = load_corpus("gitlab", "note", "issue.json")
    payload["object_attributes"]["note"] = "/codex fix"
    assert "closed issue" in parse_gitlab_event("Note Hook", payload, RULES).reason


def test_edited_note_and_closed_issue_and_bots_start_nothing():
    edited = note("issue.json")
    edited["object_attributes"]["action"] = "update"
    assert "update" in parse_gitlab_event("Note Hook", edited, RULES).reason
    closed = note("issue.json")
    closed["issue"]["state"] = "closed"
    assert "closed" in parse_gitlab_event("Note Hook", closed, RULES).reason
    bot = note("issue.json")
    bot["user"]["username"] = "project_5_bot_0123abcd"
    assert parse_gitlab_event("Note Hook", bot, RULES).reason == "note by a bot"
    own = note("issue.json")
    assert isinstance(parse_gitlab_event("Note Hook", own, Rules(bot_logins=frozenset({own["user"]["username"].casefold()}))), Ignored)


def test_bare_command_on_an_issue_takes_the_issue():
    result = parse_gitlab_event("Note Hook", note("issue.json", "/codex"), RULES)
    assert result.command.kind == "task" and result.command.text.startswith(note("issue.json")["issue"]["title"])
    assert parse_gitlab_event("Note Hook", note("merge_request.json", "/codex"), RULES).command.kind == "help"


def labeled(current, previous=()):
    payload = copy.deepcopy(load_corpus("gitlab", "issue", "update.labels.json"))
    payload["changes"]["labels"]["current"] = [{"title": t} for t in current]
    payload["changes"]["labels"]["previous"] = [{"title": t} for t in previous]
    return payload


def test_label_added_starts_a_task_from_the_issue():
    result = parse_gitlab_event("Issue Hook", labeled(["critical", "Codex"], ["critical"]), RULES)
    assert isinstance(result, Trigger)
    assert (result.source, result.number, result.is_pull_request) == ("label", 1, False)
    assert result.command.text.startswith(load_corpus("gitlab", "issue", "update.labels.json")["object_attributes"]["title"])


def test_label_already_there_or_removed_is_not_a_task():
    assert isinstance(parse_gitlab_event("Issue Hook", labeled(["codex"], ["codex"]), RULES), Ignored)
    assert parse_gitlab_event("Issue Hook", labeled([], ["codex"]), RULES).command.kind == "cancel"


def test_corpus_label_example_triggers_when_that_label_is_the_setting():
    payload = load_corpus("gitlab", "issue", "update.labels.json")
    assert isinstance(parse_gitlab_event("Issue Hook", payload, Rules(label="critical")), Trigger)


def test_confidential_issue_is_ignored():
    payload = labeled(["codex"])
    payload["object_attributes"]["confidential"] = True
    assert "confidential" in parse_gitlab_event("Issue Hook", payload, RULES).reason


@pytest.mark.parametrize("breakage", [{"project": None}, {"user": "x"}, {"object_attributes": []}, {"issue": None}])
def test_malformed_payloads_raise_payload_error(breakage):
    payload = note("issue.json")
    payload.update(breakage)
    with pytest.raises(PayloadError):
        parse_gitlab_event("Note Hook", payload, RULES)


def test_removing_the_codex_label_cancels():
    result = parse_gitlab_event("Issue Hook", labeled(["critical"], ["critical", "codex"]), RULES)
    assert isinstance(result, Trigger) and result.command.kind == "cancel"
