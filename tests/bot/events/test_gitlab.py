"""GitLab payloads → triggers, checked against every example payload in the corpus."""

import copy

import pytest

from bot.events.fields import Ignored, PayloadError, Rules
from bot.events.gitlab import parse_gitlab_event
from bot.events.gitlab_pulls import BranchPipeline
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
    payload = load_corpus("gitlab", path.parent.name, path.name)
    result = parse_gitlab_event(EVENTS[path.parent.name], payload, RULES)
    if path.parent.name == "merge_request" and payload["object_attributes"]["action"] == "open":
        # a person opened it: an automatic review, which the worker runs only if .codexbot.toml asks for it
        assert isinstance(result, Trigger) and result.command.kind == "review" and result.source == "event"
        assert result.author == payload["user"]["username"] and result.is_pull_request
        assert result.number == payload["object_attributes"]["iid"]
        return
    # none of the published examples contains a /codex command or the codex label
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


def merge_request(action="open", **attributes):
    payload = copy.deepcopy(load_corpus("gitlab", "merge_request", "open.json"))
    payload["object_attributes"].update(action=action, **attributes)
    return payload


def test_merge_request_review_on_open_and_reopen_but_not_drafts_closed_or_by_bots():
    for action in ("open", "reopen"):
        assert parse_gitlab_event("Merge Request Hook", merge_request(action), RULES).command.kind == "review"
    assert "draft" in parse_gitlab_event("Merge Request Hook", merge_request(draft=True), RULES).reason
    assert "not open" in parse_gitlab_event("Merge Request Hook", merge_request(state="closed"), RULES).reason
    bot = merge_request()
    bot["user"]["username"] = "project_14_bot_0123abcd"
    assert "bot" in parse_gitlab_event("Merge Request Hook", bot, RULES).reason
    for action in ("close", "merge", "approved"):
        assert isinstance(parse_gitlab_event("Merge Request Hook", merge_request(action), RULES), Ignored)
    edited = merge_request("update")
    edited["changes"].pop("draft")  # the example's changes take the draft off; without that, an edit is no review
    assert "update" in parse_gitlab_event("Merge Request Hook", edited, RULES).reason


def test_merge_request_marked_ready_is_reviewed_and_marked_draft_is_not():
    marked_draft = load_corpus("gitlab", "merge_request", "update.marked-draft.json")
    assert isinstance(parse_gitlab_event("Merge Request Hook", marked_draft, RULES), Ignored)
    ready = copy.deepcopy(marked_draft)
    ready["object_attributes"].update(draft=False, work_in_progress=False, title="Update README.md")
    ready["changes"] = {"draft": {"previous": True, "current": False}}
    result = parse_gitlab_event("Merge Request Hook", ready, RULES)
    assert isinstance(result, Trigger) and result.command.kind == "review" and result.number == 3
    by_title = copy.deepcopy(ready)
    by_title["changes"] = {"title": {"previous": "WIP: Update README.md", "current": "Update README.md"}}
    assert parse_gitlab_event("Merge Request Hook", by_title, RULES).command.kind == "review"


def pipeline(status="failed", branch="codex/3-abcdef12", builds=("failed",), **mr):
    project = load_corpus("gitlab", "merge_request", "open.json")["project"]
    return {"object_kind": "pipeline", "object_attributes": {"id": 31, "status": status, "url": "http://x/p/31"},
            "merge_request": {"id": 1, "iid": 4, "title": "Fix", "source_branch": branch, "source_project_id": 1,
                              "target_project_id": 1, "state": "opened", **mr},
            "user": {"username": "project_1_bot_0123abcd"}, "project": project,
            "builds": [{"name": f"job{i}", "status": s, "allow_failure": False} for i, s in enumerate(builds)]}


def test_finished_pipeline_of_codexbots_merge_request_asks_for_a_ci_repair():
    for status, builds in (("failed", ("success", "failed")), ("success", ("success",))):
        result = parse_gitlab_event("Pipeline Hook", pipeline(status, builds=builds), RULES)
        assert isinstance(result, Trigger), result
        assert (result.command.kind, result.source, result.number) == ("fix-ci", "event", 4)
        assert result.is_pull_request and result.author == "project_1_bot_0123abcd"


def test_other_pipelines_ask_for_nothing():
    assert "running" in parse_gitlab_event("Pipeline Hook", pipeline("running"), RULES).reason
    assert "codexbot" in parse_gitlab_event("Pipeline Hook", pipeline(branch="feature"), RULES).reason
    assert "codexbot" in parse_gitlab_event("Pipeline Hook", pipeline(state="merged"), RULES).reason
    assert "fork" in parse_gitlab_event("Pipeline Hook", pipeline(source_project_id=2), RULES).reason
    branch = pipeline()
    branch["merge_request"] = None
    assert "branch pipeline" in parse_gitlab_event("Pipeline Hook", branch, RULES).reason
    own = parse_gitlab_event("Pipeline Hook", pipeline(builds=("success",)), RULES)
    assert "no failing job" in own.reason  # only a commit status failed: codexbot's own, it may be


def test_a_branch_pipeline_of_a_codex_branch_waits_for_its_merge_request_number():
    branch = pipeline()
    branch["merge_request"] = None
    branch["object_attributes"]["ref"] = "codex/3-abcdef12"
    result = parse_gitlab_event("Pipeline Hook", branch, RULES)
    assert isinstance(result, BranchPipeline) and result.branch == "codex/3-abcdef12"
    repair = result.for_merge_request(7)
    assert (repair.number, repair.command.kind, repair.source, repair.is_pull_request) == (7, "fix-ci", "event", True)
    branch["object_attributes"]["tag"] = True
    assert not isinstance(parse_gitlab_event("Pipeline Hook", branch, RULES), BranchPipeline)
    branch["object_attributes"].update(tag=False, ref="feature")
    assert not isinstance(parse_gitlab_event("Pipeline Hook", branch, RULES), BranchPipeline)


def test_review_or_fix_ci_on_an_issue_note_is_a_task_or_help():
    result = parse_gitlab_event("Note Hook", note("issue.json", "/codex review the docs"), RULES)
    assert (result.command.kind, result.command.text) == ("task", "review the docs")
    assert parse_gitlab_event("Note Hook", note("issue.json", "/codex fix-ci"), RULES).command.kind == "help"
    on_mr = parse_gitlab_event("Note Hook", note("merge_request.json", "/codex review security"), RULES)
    assert (on_mr.command.kind, on_mr.command.text) == ("review", "security")
