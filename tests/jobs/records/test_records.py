"""Run records, log redaction and signed links."""

import time

import pytest

from jobs.access.links import sign_run_link, verify_run_link
from jobs.access.redaction import MASK, Redactor
from jobs.records.runs import append_log, load_run, read_log, update_run


def test_run_record_round_trip(redis_conn):
    redis_conn.hset("codexbot:run:abc", mapping={"status": "queued", "repo": "o/r", "number": "3", "created_at": "1.5"})
    update_run(redis_conn, "abc", status="running")
    update_run(redis_conn, "abc", tests={"passed": 2}, pr_url="http://x/pull/1", tracking_comment_id=9)
    run = load_run(redis_conn, "abc")
    assert (run.status, run.repo, run.number, run.pr_url, run.tests, run.tracking_comment_id) == \
        ("running", "o/r", 3, "http://x/pull/1", {"passed": 2}, 9)
    assert run.started_at and not run.finished_at and not run.is_final
    update_run(redis_conn, "abc", status="succeeded")
    assert load_run(redis_conn, "abc").is_final and load_run(redis_conn, "abc").finished_at


def test_unknown_status_is_refused(redis_conn):
    with pytest.raises(ValueError, match="status"):
        update_run(redis_conn, "abc", status="done")


def test_missing_run_is_none(redis_conn):
    assert load_run(redis_conn, "nope") is None


def test_log_lines_append_in_order_and_read_from_an_offset(redis_conn):
    for i in range(3):
        append_log(redis_conn, "r1", f"line {i}")
    assert [line.split(" ", 1)[1] for line in read_log(redis_conn, "r1")] == ["line 0", "line 1", "line 2"]
    assert len(read_log(redis_conn, "r1", 2)) == 1


def test_redactor_masks_registered_secrets_and_token_shapes():
    r = Redactor()
    r.add("supersecret-token", "abc", None, "")
    text = r.redact("push with supersecret-token and ghs_" + "a" * 36 + " and abc")
    assert "supersecret-token" not in text and "ghs_" not in text and text.count(MASK) == 2
    assert text.endswith("abc")  # too short to be a secret worth masking


def test_redactor_prefers_the_longest_secret():
    r = Redactor()
    r.add("token12", "token1234567")
    assert r.redact("x token1234567 y") == f"x {MASK} y"


def test_signed_links_verify_and_expire():
    link = sign_run_link("http://bot.example/", "key", "0123456789abcdef", ttl=60, now=1000)
    assert link.startswith("http://bot.example/runs/0123456789abcdef?expires=1060&sig=")
    sig = link.split("sig=")[1]
    assert verify_run_link("key", "0123456789abcdef", "1060", sig, now=1000) is None
    assert "expired" in verify_run_link("key", "0123456789abcdef", "1060", sig, now=2000)
    assert "signature" in verify_run_link("key", "fedcba9876543210", "1060", sig, now=1000)
    assert "signature" in verify_run_link("other", "0123456789abcdef", "1060", sig, now=1000)
    assert verify_run_link("key", "0123456789abcdef", None, None) is not None


def test_link_needs_a_secret_key():
    with pytest.raises(ValueError, match="CODEXBOT_SECRET_KEY"):
        sign_run_link("http://x", "", "r", now=time.time())
