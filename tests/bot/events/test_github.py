"""GitHub payloads → triggers, checked against every example payload GitHub and others publish."""

import copy

import pytest

from bot.events.fields import Ignored, PayloadError, Rules
from bot.events.github import parse_github_event
from jobs.types import Trigger
from tests.payloads import corpus_files, load_corpus

RULES = Rules()
GITHUB_FILES = corpus_files("github")
COMMENT_FILES = [p for p in GITHUB_FILES if p.parent.name == "issue_comment"]


def event_of(path):
    return path.parent.name


def test_corpus_is_there():
    assert len(GITHUB_FILES) >= 29


@pytest.mark.parametrize("path", GITHUB_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_corpus_payload_parses_as_it_is(path):
    payload = load_corpus("github", event_of(path), path.name)
    result = parse_github_event(event_of(path), payload, RULES)
    if event_of(path) == "pull_request" and payload["action"] == "opened":
        # a person opened it: an automatic review, which the worker runs only if .codexbot.toml asks for it
        assert isinstance(result, Trigger) and result.command.kind == "review" and result.source == "event"
        assert result.author == payload["pull_request"]["user"]["login"] and result.is_pull_request
        return
    # none of the published examples contains a /codex command or the codex label
    assert isinstance(result, Ignored) and result.reason


@pytest.mark.parametrize("path", COMMENT_FILES, ids=lambda p: p.name)
def test_comment_examples_with_a_command_give_the_right_trigger(path):
    payload = load_corpus("github", "issue_comment", path.name)
    payload["comment"]["body"] = "/codex fix the failing test --attempts 2"
    result = parse_github_event("issue_comment", payload, RULES)
    if payload["action"] != "created":
        assert isinstance(result, Ignored) and payload["action"] in result.reason
        return
    assert isinstance(result, Trigger)
    assert result.repo == payload["repository"]["full_name"]
    assert result.repo_id == payload["repository"]["id"]
    assert result.number == payload["issue"]["number"]
    assert result.is_pull_request == ("pull_request" in payload["issue"])
    assert result.author == payload["sender"]["login"]
    assert result.installation_id == (payload.get("installation") or {}).get("id")
    assert result.comment_id == payload["comment"]["id"]
    assert (result.command.kind, result.command.text, result.command.attempts) == ("task", "fix the failing test", 2)
    assert (result.source, result.forge) == ("comment", "github")


def test_pull_request_comments_are_flagged():
    payload = load_corpus("github", "issue_comment", "created.on-pull-request.json")
    payload["comment"]["body"] = "/codex fix"
    assert parse_github_event("issue_comment", payload, RULES).is_pull_request


def test_installation_id_is_carried():
    payload = load_corpus("github", "issue_comment", "created.with-installation.json")
    payload["comment"]["body"] = "/codex fix"
    assert parse_github_event("issue_comment", payload, RULES).installation_id == 1


def test_labeled_example_with_the_codex_label_gives_a_task_from_the_issue():
    payload = load_corpus("github", "issues", "labeled.json")
    payload["label"]["name"] = "Codex"
    result = parse_github_event("issues", payload, RULES)
    assert isinstance(result, Trigger)
    assert (result.source, result.number, result.author) == ("label", payload["issue"]["number"], "Codertocat")
    assert result.command.text.startswith(payload["issue"]["title"])
    assert result.comment_id is None and not result.is_pull_request


def test_label_on_an_issue_with_a_null_body():
    payload = load_corpus("github", "issues", "labeled.json")
    payload["label"]["name"] = "codex"
    payload["issue"]["body"] = None
    assert parse_github_event("issues", payload, RULES).command.text == payload["issue"]["title"]


@pytest.mark.parametrize("name", ["opened.json", "assigned.json"])
def test_other_issue_actions_do_nothing(name):
    payload = load_corpus("github", "issues", name)
    if "label" in payload:
        payload["label"]["name"] = "codex"
    assert isinstance(parse_github_event("issues", payload, RULES), Ignored)


def test_pull_request_label_is_not_a_task():
    payload = load_corpus("github", "pull_request", "labeled.json")
    payload["label"]["name"] = "codex"
    assert isinstance(parse_github_event("pull_request", payload, RULES), Ignored)


def comment(body, **changes):
    payload = copy.deepcopy(load_corpus("github", "issue_comment", "created.with-installation.json"))
    payload["comment"]["body"] = body
    for path, value in changes.items():
        obj = payload
        *parents, last = path.split("__")
        for key in parents:
            obj = obj[key]
        obj[last] = value
    return payload


def test_bots_never_start_a_task():
    assert isinstance(parse_github_event("issue_comment", comment("/codex go", sender__type="Bot"), RULES), Ignored)
    assert isinstance(parse_github_event("issue_comment", comment("/codex go", comment__user__type="Bot"), RULES), Ignored)
    own = Rules(bot_logins=frozenset({"codertocat"}))
    assert isinstance(parse_github_event("issue_comment", comment("/codex go"), own), Ignored)
    assert isinstance(parse_github_event("issue_comment", comment("/codex go", sender__login="codexbot[bot]"), RULES), Ignored)


def test_closed_issue_is_ignored():
    assert "closed" in parse_github_event("issue_comment", comment("/codex go", issue__state="closed"), RULES).reason


def test_null_comment_body_is_ignored():
    assert isinstance(parse_github_event("issue_comment", comment(None), RULES), Ignored)


def test_huge_comment_becomes_a_help_reply():
    result = parse_github_event("issue_comment", comment("/codex " + "y" * 70_000), RULES)
    assert result.command.kind == "help" and result.command.errors


def test_bare_command_on_an_issue_takes_the_issue_as_the_task():
    result = parse_github_event("issue_comment", comment("/codex", issue__title="Spelling", issue__body="Fix it."), RULES)
    assert (result.command.kind, result.command.text) == ("task", "Spelling\n\nFix it.")


def test_bare_command_on_a_pull_request_is_a_help_reply():
    payload = load_corpus("github", "issue_comment", "created.on-pull-request.json")
    payload["comment"]["body"] = "/codex"
    assert parse_github_event("issue_comment", payload, RULES).command.kind == "help"


@pytest.mark.parametrize("breakage", [
    {"issue": None}, {"issue": "x"}, {"repository": {}}, {"comment": {"body": "/codex x"}},
    {"sender": None}, {"issue": {"number": "7", "state": "open"}},
])
def test_malformed_payloads_raise_payload_error_naming_the_field(breakage):
    payload = comment("/codex fix")
    payload.update(breakage)
    with pytest.raises(PayloadError):
        parse_github_event("issue_comment", payload, RULES)


def test_comment_body_of_the_wrong_type_is_a_payload_error():
    with pytest.raises(PayloadError, match="comment.body"):
        parse_github_event("issue_comment", comment(["/codex"]), RULES)


def review(state="changes_requested", body="", author_login="codexbot[bot]", author_type="Bot", ref="codex/7-abc"):
    payload = copy.deepcopy(load_corpus("github", "pull_request_review", "submitted.json"))
    payload["review"].update(state=state, body=body)
    payload["pull_request"]["user"].update(login=author_login, type=author_type)
    payload["pull_request"]["head"]["ref"] = ref
    return payload


OWN = Rules(bot_logins=frozenset({"codexbot[bot]"}))


def test_changes_requested_on_the_bots_pull_request_is_a_follow_up():
    payload = review(body="Please rename the helper.")
    result = parse_github_event("pull_request_review", payload, OWN)
    assert isinstance(result, Trigger) and result.is_pull_request and result.source == "review"
    assert result.review_id == payload["review"]["id"] and result.number == payload["pull_request"]["number"]
    assert result.command.text == "Please rename the helper." and result.comment_id is None


def test_commented_review_needs_a_command_and_approvals_start_nothing():
    assert isinstance(parse_github_event("pull_request_review", review("commented", "nice"), OWN), Ignored)
    assert parse_github_event("pull_request_review", review("commented", "/codex add a test"), OWN).command.text == "add a test"
    assert isinstance(parse_github_event("pull_request_review", review("approved", "LGTM"), OWN), Ignored)


def test_reviews_of_other_peoples_pull_requests_start_nothing():
    human = review(author_login="Codertocat", author_type="User")
    assert "codexbot's own" in parse_github_event("pull_request_review", human, OWN).reason
    dependabot = review(author_login="dependabot[bot]", ref="dependabot/pip/x")
    assert isinstance(parse_github_event("pull_request_review", dependabot, Rules()), Ignored)
    assert isinstance(parse_github_event("pull_request_review", review(), Rules()), Trigger)  # a codex/ branch


def test_review_comment_with_a_command_names_its_thread():
    payload = load_corpus("github", "pull_request_review_comment", "created.json")
    payload["comment"]["body"] = "/codex use a constant here"
    result = parse_github_event("pull_request_review_comment", payload, RULES)
    assert result.review_comment_id == payload["comment"]["id"] and result.command.text == "use a constant here"
    payload["comment"]["body"] = "just a thought"
    assert isinstance(parse_github_event("pull_request_review_comment", payload, RULES), Ignored)


def test_removing_the_codex_label_cancels():
    payload = load_corpus("github", "issues", "unlabeled.json")
    payload["label"]["name"] = "codex"
    result = parse_github_event("issues", payload, RULES)
    assert isinstance(result, Trigger) and result.command.kind == "cancel" and result.source == "label"
    payload["label"]["name"] = "bug"
    assert isinstance(parse_github_event("issues", payload, RULES), Ignored)
