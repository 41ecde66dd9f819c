"""POST /webhooks/github against a real Redis: verify, parse, record once, enqueue."""

import json
import threading
import uuid

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer

from bot import create_app
from jobs.intake.accept import delivery_key, job_id_for, load_task, make_queue
from jobs.records.runs import load_run
from jobs.settings import MAX_WEBHOOK_BYTES, Settings
from tests.payloads import LargeBody, github_headers, load_corpus, recorded_keys
from tests.services import free_port


def command_payload(body="/codex fix the failing test", **issue):
    payload = load_corpus("github", "issue_comment", "created.with-installation.json")
    payload["comment"]["body"] = body
    payload["issue"].update(issue)
    return payload


def post(client, payload, event="issue_comment", delivery=None, **kw):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = github_headers(body, event, delivery or str(uuid.uuid4()), **kw)
    return client.post("/webhooks/github", data=body, headers=headers)


def queued_jobs(settings, conn):
    return make_queue(conn, settings.queue).job_ids


def test_command_comment_is_recorded_and_enqueued(client, settings, redis_conn):
    resp = post(client, command_payload(), delivery="d-1")
    assert resp.status_code == 202
    run_id = resp.get_json()["run_id"]
    task = load_task(redis_conn, run_id)
    assert (task.delivery_id, task.trigger.repo, task.trigger.command.text) == ("d-1", "Codertocat/Hello-World", "fix the failing test")
    assert queued_jobs(settings, redis_conn) == [job_id_for(run_id)]
    job = Job.fetch(job_id_for(run_id), connection=redis_conn, serializer=JSONSerializer)
    assert job.func_name == "jobs.run.pipeline.run_task" and list(job.args) == [run_id]
    assert job.timeout == settings.job_timeout
    assert 0 < redis_conn.ttl(delivery_key("github", "d-1")) <= 7 * 24 * 3600


def test_redelivered_webhook_starts_no_second_job(client, settings, redis_conn):
    first = post(client, command_payload(), delivery="same")
    again = post(client, command_payload(), delivery="same")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.get_json() == {"duplicate": True, "run_id": first.get_json()["run_id"]}
    assert len(queued_jobs(settings, redis_conn)) == 1


def test_concurrent_copies_of_one_delivery_enqueue_once(app, settings, redis_conn):
    statuses = []
    def send():
        statuses.append(post(app.test_client(), command_payload(), delivery="burst").status_code)
    threads = [threading.Thread(target=send) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(statuses) == [200] * 9 + [202]
    assert len(queued_jobs(settings, redis_conn)) == 1


def test_label_starts_a_task(client, settings, redis_conn):
    payload = load_corpus("github", "issues", "labeled.json")
    payload["label"]["name"] = "codex"
    payload["installation"] = {"id": 42}
    resp = post(client, payload, event="issues")
    assert resp.status_code == 202
    assert load_task(redis_conn, resp.get_json()["run_id"]).trigger.source == "label"


@pytest.mark.parametrize("body", ["just a comment", "```\n/codex in code\n```", "> /codex quoted"])
def test_comments_without_a_command_do_nothing(client, settings, redis_conn, body):
    resp = post(client, command_payload(body))
    assert resp.status_code == 200 and "ignored" in resp.get_json()
    assert queued_jobs(settings, redis_conn) == [] and recorded_keys(redis_conn) == []


@pytest.mark.parametrize("name", ["payload.json", "with-app_id.json", "with-organization.json"])
def test_ping_answers_200(client, name):
    assert post(client, load_corpus("github", "ping", name), event="ping").status_code == 200


def test_unhandled_events_answer_200_and_do_nothing(client, redis_conn):
    assert post(client, load_corpus("github", "pull_request", "closed.json"), event="pull_request").status_code == 200
    assert post(client, {"zen": "x"}, event="some_future_event").status_code == 200
    assert recorded_keys(redis_conn) == []


def test_delivery_without_installation_is_ignored_with_the_reason(client, redis_conn):
    payload = command_payload()
    del payload["installation"]
    resp = post(client, payload)
    assert resp.status_code == 200 and "GitHub App" in resp.get_json()["ignored"]
    assert recorded_keys(redis_conn) == []


def test_bad_signature_is_401_with_one_line(client, redis_conn):
    resp = post(client, command_payload(), secret="wrong")
    assert resp.status_code == 401
    assert resp.data.decode().count("\n") == 1 and "secret" in resp.data.decode()
    assert recorded_keys(redis_conn) == []


def test_missing_signature_is_401(client):
    body = json.dumps(command_payload()).encode()
    headers = {"X-GitHub-Event": "issue_comment", "X-GitHub-Delivery": "x", "Content-Type": "application/json"}
    assert client.post("/webhooks/github", data=body, headers=headers).status_code == 401


def test_any_configured_secret_is_accepted(settings, redis_conn):
    rotated = Settings(redis_url=settings.redis_url, github_webhook_secret=("old", "new"))
    client = create_app(rotated).test_client()
    assert post(client, command_payload(), secret="old").status_code == 202
    assert post(client, command_payload(), secret="new").status_code == 202


@pytest.mark.parametrize("drop", ["X-GitHub-Event", "X-GitHub-Delivery"])
def test_missing_event_or_delivery_header_is_400(client, drop):
    body = json.dumps(command_payload()).encode()
    headers = github_headers(body, "issue_comment", "d")
    del headers[drop]
    assert client.post("/webhooks/github", data=body, headers=headers).status_code == 400


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\"text\"", b"\xff\xfe", b""])
def test_body_that_is_not_a_json_object_is_400(client, body):
    assert post(client, body).status_code == 400


def test_form_encoded_webhook_gets_the_fix(client):
    body = b"payload=%7B%7D"
    headers = github_headers(body, "issue_comment", "d")
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    resp = client.post("/webhooks/github", data=body, headers=headers)
    assert resp.status_code == 400 and b"application/json" in resp.data


def test_malformed_payload_is_400_naming_the_field(client):
    payload = command_payload()
    payload["issue"]["number"] = "seven"
    resp = post(client, payload)
    assert resp.status_code == 400 and b"issue.number" in resp.data


def test_oversized_body_is_413_without_reading_it(client):
    stream = LargeBody(MAX_WEBHOOK_BYTES + 1)
    headers = {"X-GitHub-Event": "issue_comment", "X-GitHub-Delivery": "big", "Content-Type": "application/json",
               "X-Hub-Signature-256": "sha256=00", "Content-Length": str(MAX_WEBHOOK_BYTES + 1)}
    resp = client.post("/webhooks/github", input_stream=stream, headers=headers)
    assert resp.status_code == 413
    assert stream.read_bytes < 1024 * 1024


def test_wrong_method_is_405(client):
    assert client.get("/webhooks/github").status_code == 405
    assert client.put("/webhooks/github").status_code == 405


def test_unrecorded_delivery_is_503(tmp_path):
    down = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", github_webhook_secret=("test-webhook-secret",))
    client = create_app(down).test_client()
    resp = post(client, command_payload())
    assert resp.status_code == 503 and b"redeliver" in resp.data
    assert client.get("/healthz").status_code == 503


def test_redis_out_of_memory_records_nothing_and_a_redelivery_is_accepted(client, settings, redis_conn):
    redis_conn.config_set("maxmemory-policy", "noeviction")
    redis_conn.config_set("maxmemory", 1)  # every write is refused with OOM
    try:
        assert post(client, command_payload(), delivery="oom").status_code == 503
    finally:
        redis_conn.config_set("maxmemory", 0)
    assert recorded_keys(redis_conn) == []
    assert post(client, command_payload(), delivery="oom").status_code == 202
    assert len(queued_jobs(settings, redis_conn)) == 1


def test_a_redis_user_that_cannot_run_scripts_gets_503_and_nothing_recorded(settings, redis_conn):
    redis_conn.execute_command("ACL", "SETUSER", "noscript", "on", ">pw", "~*", "&*", "+@all", "-@scripting")
    port = redis_conn.connection_pool.connection_kwargs["port"]
    limited = Settings(redis_url=f"redis://noscript:pw@127.0.0.1:{port}/0",
                       github_webhook_secret=settings.github_webhook_secret)
    assert post(create_app(limited).test_client(), command_payload(), delivery="acl").status_code == 503
    assert recorded_keys(redis_conn) == []
    assert post(create_app(settings).test_client(), command_payload(), delivery="acl").status_code == 202


def test_the_enqueued_job_is_the_one_rq_would_write(client, settings, redis_conn):
    from rq import Queue

    run_id = post(client, command_payload()).get_json()["run_id"]
    job = make_queue(redis_conn, settings.queue).fetch_job(job_id_for(run_id))
    assert job.get_status() == "queued" and job.origin == settings.queue and job.enqueued_at is not None
    assert job.result_ttl == 7 * 24 * 3600 and job.description == f"codexbot run {run_id}"
    assert [q.name for q in Queue.all(connection=redis_conn)] == [settings.queue]


def test_accepted_task_starts_a_queued_run_record(client, redis_conn):
    run_id = post(client, command_payload()).get_json()["run_id"]
    run = load_run(redis_conn, run_id)
    assert (run.status, run.repo, run.requester, run.number) == ("queued", "Codertocat/Hello-World", "Codertocat", 1)
    assert run.trigger["command"] == "task"


def test_healthz(client):
    assert client.get("/healthz").status_code == 200


def test_one_structured_log_line_per_delivery(client, caplog):
    caplog.set_level("INFO", logger="codexbot")
    post(client, command_payload(), delivery="logged-1")
    post(client, command_payload("hello"), delivery="logged-2")
    fields = [r.fields for r in caplog.records if r.name == "codexbot.webhook.github"]
    assert [(f["delivery"], f["status"]) for f in fields] == [("logged-1", 202), ("logged-2", 200)]
    assert all(f["ms"] >= 0 for f in fields)
