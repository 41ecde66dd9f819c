"""The JSON API under /api/: tokens, scopes, validation, deduplication, rate limits, runs, logs, cancel, diff,
and the whole of it against its own OpenAPI document with schemathesis."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
import schemathesis
from schemathesis.core.parameters import ParameterLocation
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from hypothesis import settings as hypothesis_settings

from bot import create_app
from jobs.records import delegated
from jobs.records import runs
from jobs.access.api_tokens import ApiTokens
from jobs.intake.accept import make_queue

HEAD = "0123456789abcdef0123456789abcdef01234567"


def body(**over) -> dict:
    return {"task": "fix the failing test", "repository": "octo/calc", "base_commit": HEAD,
            "request_id": "req-0000001", **over}


@pytest.fixture
def tokens(redis_conn, settings) -> ApiTokens:
    return ApiTokens(redis_conn, settings.secret_key)


@pytest.fixture
def token(tokens) -> str:
    return tokens.create("alice", ["octo/calc", "gitlab:group/app"])[1]


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_no_token_a_wrong_one_and_a_revoked_one_get_401_with_a_sentence(client, tokens, token):
    assert client.get("/api/runs").status_code == 401
    assert "Authorization: Bearer" in client.get("/api/runs").json["error"]
    assert client.get("/api/runs", headers=auth(token[:-1] + "x")).status_code == 401
    assert client.get("/api/runs", headers=auth(token)).status_code == 200
    tokens.revoke(tokens.list()[0].token_id)
    answer = client.get("/api/runs", headers=auth(token))
    assert answer.status_code == 401 and "revoked" in answer.json["error"]


def test_an_expired_token_is_refused(client, redis_conn, tokens):
    created, text = tokens.create("alice", ["octo/calc"], expires_days=1)
    redis_conn.hset(f"codexbot:apitoken:{created.token_id}", "expires_at", repr(time.time() - 1))
    assert client.get("/api/runs", headers=auth(text)).status_code == 401


def test_tokens_are_stored_only_as_a_keyed_hash(redis_conn, tokens, token):
    stored = b"".join(k + b"".join(redis_conn.hvals(k)) for k in redis_conn.keys("codexbot:apitoken:*"))
    assert token.encode() not in stored and token.split("_", 2)[2].encode() not in stored


def test_delegating_queues_one_run_per_request_id(client, redis_conn, settings, token):
    first = client.post("/api/runs", json=body(diff="diff --git a/x b/x\n"), headers=auth(token))
    assert first.status_code == 202, first.json
    again = client.post("/api/runs", json=body(), headers=auth(token))
    assert again.status_code == 200 and again.json["duplicate"] and again.json["id"] == first.json["id"]
    assert len(make_queue(redis_conn, settings.queue)) == 1
    run = runs.load_run(redis_conn, first.json["id"])
    assert (run.status, run.repo, run.requester, run.trigger["source"]) == ("queued", "octo/calc", "alice", "api")
    assert client.post("/api/runs", json=body(request_id="req-0000002"), headers=auth(token)).status_code == 202


@pytest.mark.parametrize("change, words", [
    ({"task": ""}, "task must say what to do"),
    ({"repository": "calc"}, "repository must be owner/name"),
    ({"base_commit": "HEAD"}, "base_commit must be the full 40-character commit id"),
    ({"request_id": "x"}, "request_id must be 8 to 100"),
    ({"forge": "bitbucket"}, "forge must be 'github' or 'gitlab'"),
    ({"diff": "not a diff"}, "diff must be the output of `git diff --binary`"),
    ({"extra": 1}, "unknown field 'extra'"),
    ({"task": 5}, "task must be a string"),
])
def test_a_bad_body_gets_400_naming_the_field(client, token, change, words):
    answer = client.post("/api/runs", json=body(**change), headers=auth(token))
    assert answer.status_code == 400 and words in answer.json["error"]


def test_a_body_that_is_not_json_gets_400(client, token):
    answer = client.post("/api/runs", data="task=x", headers=auth(token))
    assert answer.status_code == 400 and "JSON object" in answer.json["error"]


def test_a_diff_over_the_size_limit_gets_400(redis_conn, settings, token):
    client = create_app(dataclasses.replace(settings, max_diff_bytes=100)).test_client()
    answer = client.post("/api/runs", json=body(diff="diff --git " + "x" * 200), headers=auth(token))
    assert answer.status_code == 400 and "CODEXBOT_MAX_DIFF_BYTES" in answer.json["error"]


def test_a_repository_outside_the_token_scope_gets_403(client, token):
    answer = client.post("/api/runs", json=body(repository="octo/other"), headers=auth(token))
    assert answer.status_code == 403 and "github:octo/other" in answer.json["error"]
    assert client.post("/api/runs", json=body(forge="gitlab", repository="group/app"), headers=auth(token)).status_code == 202


def test_a_token_over_its_budget_gets_429_with_retry_after(redis_conn, settings, token):
    client = create_app(dataclasses.replace(settings, api_rate_per_minute=3)).test_client()
    answers = [client.get("/api/runs", headers=auth(token)) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60 and "try again in" in answers[-1].json["error"]


def test_runs_are_visible_only_to_their_user(client, tokens, token):
    run_id = client.post("/api/runs", json=body(), headers=auth(token)).json["id"]
    assert [r["id"] for r in client.get("/api/runs", headers=auth(token)).json["runs"]] == [run_id]
    assert client.get(f"/api/runs/{run_id}", headers=auth(token)).json["status"] == "queued"
    other = tokens.create("bob", ["octo/calc"])[1]
    assert client.get("/api/runs", headers=auth(other)).json["runs"] == []
    answer = client.get(f"/api/runs/{run_id}", headers=auth(other))
    assert answer.status_code == 404 and "codexbot runs" in answer.json["error"]


def test_the_log_pages_from_a_line_and_waits_for_new_ones(client, redis_conn, token):
    run_id = client.post("/api/runs", json=body(), headers=auth(token)).json["id"]
    for line in ("one", "two", "three"):
        runs.append_log(redis_conn, run_id, line)
    page = client.get(f"/api/runs/{run_id}/log?from=1", headers=auth(token)).json
    assert [line.split(" ", 1)[1] for line in page["lines"]] == ["two", "three"]
    assert (page["next"], page["final"]) == (3, False)
    started = time.monotonic()
    empty = client.get(f"/api/runs/{run_id}/log?from=3&wait=1", headers=auth(token)).json
    assert empty["lines"] == [] and time.monotonic() - started >= 0.9
    runs.update_run(redis_conn, run_id, status="failed")
    started = time.monotonic()
    final = client.get(f"/api/runs/{run_id}/log?from=3&wait=20", headers=auth(token)).json
    assert final["final"] and time.monotonic() - started < 2  # an ended run answers at once
    for bad in ("wait=99", "from=-1", "from=" + "9" * 20, "from=\u00b2"):
        assert client.get(f"/api/runs/{run_id}/log?{bad}", headers=auth(token)).status_code == 400


def test_cancel_asks_a_run_to_stop_once(client, redis_conn, token):
    run_id = client.post("/api/runs", json=body(), headers=auth(token)).json["id"]
    answer = client.post(f"/api/runs/{run_id}/cancel", headers=auth(token))
    assert answer.status_code == 202 and runs.cancel_requested(redis_conn, run_id) == "alice"
    runs.update_run(redis_conn, run_id, status="cancelled")
    again = client.post(f"/api/runs/{run_id}/cancel", headers=auth(token))
    assert again.status_code == 409 and "already ended (cancelled)" in again.json["error"]


def test_the_diff_is_there_once_the_run_has_one(client, redis_conn, token):
    run_id = client.post("/api/runs", json=body(), headers=auth(token)).json["id"]
    waiting = client.get(f"/api/runs/{run_id}/diff", headers=auth(token))
    assert waiting.status_code == 409 and "it is queued" in waiting.json["error"]
    delegated.store_result(redis_conn, run_id, "diff --git a/x b/x\n", HEAD, {"x": b"old\n"})
    got = client.get(f"/api/runs/{run_id}/diff", headers=auth(token)).json
    assert got["diff"].startswith("diff --git") and got["preimages"] == {"x": "b2xkCg=="}


def test_unknown_paths_and_methods_answer_json(client, token):
    missing = client.get("/api/nothing", headers=auth(token))
    assert missing.status_code == 404 and missing.is_json and missing.json["error"]
    wrong = client.delete("/api/runs", headers=auth(token))
    assert wrong.status_code == 405 and wrong.json["error"]
    assert client.get("/healthz").status_code in (200, 503)  # outside /api/ nothing changes


def test_the_openapi_document_describes_every_route(app, client):
    document = client.get("/api/openapi.json").json
    documented = {(path, method.upper()) for path, ops in document["paths"].items() for method in ops}
    routes = {(rule.rule.replace("<run_id>", "{run_id}"), method) for rule in app.url_map.iter_rules()
              if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi_document"
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == documented


def test_the_api_answers_as_its_openapi_document_says(redis_conn, settings):
    """schemathesis generates requests for every operation from /api/openapi.json, valid ones and invalid ones
    (some of them on real runs) and checks each answer against the document: status, content type, schema."""
    app = create_app(dataclasses.replace(settings, api_rate_per_minute=1_000_000))
    token = ApiTokens(redis_conn, settings.secret_key).create("alice", ["octo/calc"])[1]
    real = [_real_run(app, redis_conn, token, n) for n in range(3)]
    counts: dict[str, int] = {}
    for found in schemathesis.openapi.from_wsgi("/api/openapi.json", app).get_all_operations():
        operation = found.ok()
        for mode, examples in ((schemathesis.GenerationMode.POSITIVE, 50), (schemathesis.GenerationMode.NEGATIVE, 30)):

            @given(case=operation.as_strategy(mode), pick=st.integers(0, 5))
            @hypothesis_settings(max_examples=examples, deadline=None, database=None,
                                 suppress_health_check=list(HealthCheck))
            def check(case, pick):
                if "run_id" in (case.path_parameters or {}) and pick < len(real):
                    case.path_parameters["run_id"] = real[pick]  # half the cases reach a real run
                # a case whose headers were made invalid on purpose (the only header is Authorization) keeps them
                header = case.meta.components.get(ParameterLocation.HEADER)
                mutated = header is not None and header.mode == schemathesis.GenerationMode.NEGATIVE
                case.call_and_validate(**({} if mutated else {"headers": auth(token)}))
                counts[operation.label] = counts.get(operation.label, 0) + 1

            check()
    print("schemathesis cases:", sum(counts.values()), json.dumps(counts))
    assert len(counts) == 6 and min(counts.values()) >= 40


def _real_run(app, redis_conn, token: str, n: int) -> str:
    """A delegated run that has ended (so long-polls answer at once), the first with a stored diff."""
    run_id = app.test_client().post("/api/runs", json=body(request_id=f"real-{n:08d}"), headers=auth(token)).json["id"]
    runs.update_run(redis_conn, run_id, status="succeeded" if n == 0 else "failed")
    if n == 0:
        delegated.store_result(redis_conn, run_id, "diff --git a/x b/x\n", HEAD, {"x": b"old\n"})
    return run_id
