"""POST /webhooks/gitlab against a real Redis: token check, parse, record once, enqueue."""

import copy
import json
import uuid

import pytest

from bot import create_app
from jobs.intake.accept import load_task, make_queue
from jobs.settings import MAX_WEBHOOK_BYTES, Settings
from tests.payloads import LargeBody, load_corpus, recorded_keys

TOKEN = "gitlab-hook-token"


@pytest.fixture
def gl_settings(redis_server, tmp_path):
    return Settings(redis_url=redis_server.url, gitlab_webhook_secret=("old-token", TOKEN))


@pytest.fixture
def gl_client(gl_settings, redis_conn):
    return create_app(gl_settings).test_client()


def note_payload(body="/codex fix the failing test"):
    payload = copy.deepcopy(load_corpus("gitlab", "note", "issue.json"))
    payload["object_attributes"]["note"] = body
    payload["issue"]["state"] = "opened"
    return payload


def post(client, payload, event="Note Hook", token=TOKEN, key=None, extra=None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"X-Gitlab-Event": event, "Content-Type": "application/json", "X-Gitlab-Event-UUID": str(uuid.uuid4())}
    if token is not None:
        headers["X-Gitlab-Token"] = token
    if key is not None:
        headers["Idempotency-Key"] = key
    headers.update(extra or {})
    return client.post("/webhooks/gitlab", data=body, headers=headers)


def jobs(settings, conn):
    return make_queue(conn, settings.queue).job_ids


def test_note_with_a_command_is_recorded_and_enqueued(gl_client, gl_settings, redis_conn):
    resp = post(gl_client, note_payload(), key="k-1")
    assert resp.status_code == 202
    task = load_task(redis_conn, resp.get_json()["run_id"])
    assert (task.trigger.forge, task.trigger.repo, task.delivery_id) == ("gitlab", "gitlab-org/gitlab-test", "k-1")
    assert len(jobs(gl_settings, redis_conn)) == 1


def test_retry_with_the_same_idempotency_key_starts_nothing(gl_client, gl_settings, redis_conn):
    assert post(gl_client, note_payload(), key="same").status_code == 202
    assert post(gl_client, note_payload(), key="same").get_json()["duplicate"] is True
    assert len(jobs(gl_settings, redis_conn)) == 1


def test_without_idempotency_key_the_event_uuid_and_body_dedupe(gl_client, gl_settings, redis_conn):
    headers = {"X-Gitlab-Event-UUID": "0f0e6f2a-1111-2222-3333-444455556666"}
    assert post(gl_client, note_payload(), extra=headers).status_code == 202
    assert post(gl_client, note_payload(), extra=headers).status_code == 200
    assert post(gl_client, note_payload("/codex something else"), extra=headers).status_code == 202
    assert len(jobs(gl_settings, redis_conn)) == 2


@pytest.mark.parametrize("token", [None, "", "wrong"])
def test_wrong_or_missing_token_is_401(gl_client, redis_conn, token):
    resp = post(gl_client, note_payload(), token=token)
    assert resp.status_code == 401 and b"secret token" in resp.data
    assert recorded_keys(redis_conn) == []


def test_either_configured_token_works(gl_client):
    assert post(gl_client, note_payload(), token="old-token").status_code == 202


@pytest.mark.parametrize("event", ["Push Hook", "Pipeline Hook", "System Hook", "Confidential Note Hook"])
def test_other_events_are_answered_200_and_ignored(gl_client, redis_conn, event):
    resp = post(gl_client, load_corpus("gitlab", "push", "push.json"), event=event)
    assert resp.status_code == 200 and "ignored" in resp.get_json()
    assert recorded_keys(redis_conn) == []


def test_label_added_starts_a_task(gl_client, gl_settings, redis_conn):
    payload = load_corpus("gitlab", "issue", "update.labels.json")
    payload["changes"]["labels"]["current"].append({"title": "codex"})
    resp = post(gl_client, payload, event="Issue Hook")
    assert resp.status_code == 202
    assert load_task(redis_conn, resp.get_json()["run_id"]).trigger.source == "label"


def test_bad_bodies_and_headers_are_400(gl_client):
    assert post(gl_client, b"not json").status_code == 400
    assert post(gl_client, b"[]").status_code == 400
    assert post(gl_client, note_payload(), event="").status_code == 400
    assert post(gl_client, note_payload(), key="bad key with spaces").status_code == 400
    broken = note_payload()
    broken["project"] = None
    assert post(gl_client, broken).status_code == 400


def test_oversized_body_is_413_without_reading_it(gl_client):
    stream = LargeBody(MAX_WEBHOOK_BYTES + 1)
    headers = {"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": TOKEN, "Content-Length": str(MAX_WEBHOOK_BYTES + 1)}
    assert gl_client.post("/webhooks/gitlab", input_stream=stream, headers=headers).status_code == 413
    assert stream.read_bytes < 1024 * 1024


def test_disabled_when_no_gitlab_secret(client):
    assert post(client, note_payload()).status_code == 404


def test_unrecorded_delivery_is_503(tmp_path):
    from tests.services import free_port

    down = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", gitlab_webhook_secret=(TOKEN,))
    assert post(create_app(down).test_client(), note_payload()).status_code == 503
