"""Signed bodies that are valid JSON yet hostile: nested thousands deep, or text that is not valid Unicode."""

import copy
import json
import uuid

import pytest

from tests.payloads import github_headers, load_corpus, recorded_keys

pytestmark = pytest.mark.abuse


def comment(body: str) -> dict:
    payload = copy.deepcopy(load_corpus("github", "issue_comment", "created.with-installation.json"))
    payload["comment"]["body"] = body
    payload["issue"]["state"] = "open"
    return payload


def post(client, raw: bytes):
    return client.post("/webhooks/github", data=raw, headers=github_headers(raw, "issue_comment", str(uuid.uuid4())))


@pytest.mark.parametrize("raw", [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000])
def test_json_nested_too_deeply_is_a_400_not_a_crash(client, redis_conn, raw):
    answer = post(client, raw)
    assert answer.status_code == 400 and "nested too deeply" in answer.get_data(as_text=True)
    assert recorded_keys(redis_conn) == []


def test_a_lone_surrogate_in_a_comment_is_a_400_and_records_nothing(client, redis_conn):
    answer = post(client, json.dumps(comment("/codex fix \ud800 it")).encode())
    assert answer.status_code == 400 and "lone surrogate" in answer.get_data(as_text=True)
    assert recorded_keys(redis_conn) == []


def test_escaped_surrogate_pairs_are_fine(client, redis_conn):
    raw = json.dumps(comment("/codex fix the \U0001F600 test")).encode()  # ensure_ascii: \ud83d\ude00
    assert b"\\ud83d" in raw
    assert post(client, raw).status_code == 202


@pytest.mark.parametrize("field, value", [(("issue", "number"), 0), (("issue", "number"), -3),
                                          (("repository", "full_name"), "no-owner")])
def test_a_signed_payload_with_values_no_repository_has_is_a_400(client, redis_conn, field, value):
    payload = comment("/codex fix it")
    payload[field[0]][field[1]] = value
    answer = post(client, json.dumps(payload).encode())
    assert answer.status_code == 400 and "malformed issue_comment payload" in answer.get_data(as_text=True)
    assert recorded_keys(redis_conn) == []
