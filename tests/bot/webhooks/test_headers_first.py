"""An event codexbot does not act on is answered by its header alone: its body is neither read nor verified."""

import json
from dataclasses import replace

import pytest

from bot import create_app
from bot.events.fields import Ignored
from bot.events.github import HANDLED_EVENTS, parse_github_event
from bot.events.gitlab import HANDLED_EVENTS as GITLAB_HANDLED, parse_gitlab_event
from bot.webhooks.delivery import rules_for
from tests.bot.events.test_gitlab import EVENTS
from tests.payloads import CORPUS, LargeBody, corpus_files, github_headers, recorded_keys


def test_an_unhandled_event_is_answered_without_reading_its_body(client, redis_conn):
    stream = LargeBody(5 * 1024 * 1024)  # a push of a big branch, say
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "push-1", "Content-Type": "application/json",
               "X-Hub-Signature-256": "sha256=00", "Content-Length": str(stream.size)}
    answer = client.post("/webhooks/github", input_stream=stream, headers=headers)
    assert answer.status_code == 200 and answer.get_json() == {"ignored": "push is not acted on"}
    assert stream.read_bytes == 0
    assert recorded_keys(redis_conn) == []


def test_a_handled_event_is_still_verified_first(client, redis_conn):
    body = json.dumps({"zen": "x", "hook_id": 1}).encode()
    answer = client.post("/webhooks/github", data=body, headers=github_headers(body, "ping", "p-1", secret="wrong"))
    assert answer.status_code == 401


@pytest.mark.parametrize("path", corpus_files("github"), ids=lambda p: str(p.relative_to(CORPUS)))
def test_every_event_the_parser_acts_on_is_in_the_handled_list(settings, path):
    event = path.relative_to(CORPUS / "github").parts[0]
    result = parse_github_event(event, json.loads(path.read_text()), rules_for(settings, ""))
    assert event in HANDLED_EVENTS or isinstance(result, Ignored)
    if event not in HANDLED_EVENTS:
        assert parse_github_event(event, {"action": "created"}, rules_for(settings, "")).reason.endswith("not acted on")


@pytest.fixture
def gitlab_client(settings, redis_conn):
    app = create_app(replace(settings, gitlab_webhook_secret=("gitlab-secret",)))
    app.config["TESTING"] = True
    return app.test_client()


def test_an_unhandled_gitlab_event_is_answered_without_reading_its_body(gitlab_client, redis_conn):
    stream = LargeBody(5 * 1024 * 1024)
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "wrong", "Content-Type": "application/json",
               "Content-Length": str(stream.size)}
    answer = gitlab_client.post("/webhooks/gitlab", input_stream=stream, headers=headers)
    assert answer.status_code == 200 and answer.get_json() == {"ignored": "Push Hook is not acted on"}
    assert stream.read_bytes == 0 and recorded_keys(redis_conn) == []
    handled = gitlab_client.post("/webhooks/gitlab", data=b"{}", headers={**headers, "X-Gitlab-Event": "Note Hook",
                                                                          "Content-Length": "2"})
    assert handled.status_code == 401  # an event it acts on is still verified first


@pytest.mark.parametrize("path", corpus_files("gitlab"), ids=lambda p: str(p.relative_to(CORPUS)))
def test_every_gitlab_event_the_parser_acts_on_is_in_the_handled_list(settings, path):
    event = EVENTS.get(path.relative_to(CORPUS / "gitlab").parts[0], "System Hook")
    result = parse_gitlab_event(event, json.loads(path.read_text()), rules_for(settings, ""))
    assert event in GITLAB_HANDLED or isinstance(result, Ignored)
