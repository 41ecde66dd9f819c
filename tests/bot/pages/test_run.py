"""The run page and its live log (Server-Sent Events), behind signed links."""

import time

import pytest

from jobs.access.links import sign_run_link
from jobs.records.runs import append_log, update_run

RUN = "0123456789abcdef"


@pytest.fixture
def run(redis_conn):
    redis_conn.hset(f"codexbot:run:{RUN}", mapping={"status": "running", "repo": "o/r", "number": "1",
                                                   "requester": "alice", "created_at": str(time.time())})
    for line in ("phase: checking out", "<script>alert(1)</script>", "traceback\nline two"):
        append_log(redis_conn, RUN, line)
    return RUN


def link(settings, run_id=RUN, **kw):
    return sign_run_link("http://localhost", settings.secret_key, run_id, **kw).replace("http://localhost", "")


def events(resp):
    text = resp.get_data(as_text=True)
    return [block for block in text.split("\n\n") if block.strip() and not block.startswith(":")]  # ":" is a heartbeat


def test_page_escapes_the_log_and_points_at_the_stream(client, settings, run):
    resp = client.get(link(settings))
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert f"/runs/{RUN}/log?" in page and 'data-lines="3"' in page and "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert client.get("/static/run.js").status_code == 200


def test_stream_sends_each_line_once_with_its_index_and_ends_with_the_run(client, settings, redis_conn, run):
    update_run(redis_conn, RUN, status="succeeded")
    blocks = events(client.get(link(settings).replace(f"/runs/{RUN}?", f"/runs/{RUN}/log?")))
    assert blocks[0] == "retry: 1000"
    assert blocks[1] .startswith("id: 0\ndata: ") and blocks[1].endswith("phase: checking out")
    assert blocks[3].endswith("traceback\ndata: line two")
    assert blocks[-1] == "event: end\ndata: succeeded"


def test_a_reconnect_resumes_after_the_last_event(client, settings, redis_conn, run):
    update_run(redis_conn, RUN, status="failed")
    url = link(settings).replace(f"/runs/{RUN}?", f"/runs/{RUN}/log?")
    blocks = events(client.get(url, headers={"Last-Event-ID": "1"}))
    assert [b.split("\n")[0] for b in blocks[1:-1]] == ["id: 2"]


def test_stream_of_a_running_run_delivers_new_lines_as_they_come(client, settings, redis_conn, run):
    import threading

    def finish_later():
        time.sleep(0.6)
        append_log(redis_conn, RUN, "phase: tests")
        update_run(redis_conn, RUN, status="succeeded")

    threading.Thread(target=finish_later).start()
    blocks = events(client.get(link(settings).replace(f"/runs/{RUN}?", f"/runs/{RUN}/log?") + "&from=3"))
    assert blocks[1].startswith("id: 3") and blocks[1].endswith("phase: tests") and blocks[-1].startswith("event: end")


@pytest.mark.parametrize("tamper", ["nosig", "badsig", "expired"])
def test_stream_and_page_need_a_valid_link(client, settings, run, tamper):
    url = {"nosig": f"/runs/{RUN}", "badsig": link(settings)[:-3] + "xyz",
           "expired": link(settings, ttl=-10)}[tamper]
    assert client.get(url).status_code == 403
    assert client.get(url.replace(f"/runs/{RUN}", f"/runs/{RUN}/log")).status_code == 403


def test_unknown_or_malformed_run_is_404(client, settings):
    assert client.get(link(settings, run_id="ffffffffffffffff")).status_code == 404
    assert client.get("/runs/../etc").status_code == 404


def finished_run(redis_conn, run_id=RUN):
    """A run as the worker leaves it: phases, transcript, tests with JUnit cases, a diff with hostile text."""
    from jobs.records.runs import record_phase, store_diff, transcript_key
    import json
    start = time.time() - 100
    redis_conn.hset(f"codexbot:run:{run_id}", mapping={
        "status": "running", "repo": "o/r", "number": "7", "requester": "alice", "created_at": repr(start),
        "trigger": json.dumps({"forge": "github", "url": "https://github.example/o/r/issues/7", "title": "Fix <b>it</b>",
                               "is_pull_request": False, "command": "task"})})
    for phase, offset in (("checking out", 2), ("setting up", 5), ("agent working", 9), ("tests", 60), ("publishing", 70)):
        record_phase(redis_conn, run_id, phase, at=start + offset)
    store_diff(redis_conn, run_id, "--- a/calc.py\n+++ b/calc.py\n@@ -1 +1 @@\n-return a - b\n+return a + b  # </pre><script>x()</script>\n")
    redis_conn.set(transcript_key(run_id), json.dumps({"steps": [
        {"step": 1, "response": {"content": "Let me look <img src=x>"}, "usage": {"prompt_tokens": 120, "completion_tokens": 30},
         "cost": 0.001, "tool_calls": [{"name": "shell", "arguments": {"command": "cat calc.py"}, "output": "def add(a, b): ...",
                                        "failed": False, "seconds": 0.2}]}]}))
    update_run(redis_conn, run_id, status="succeeded", pr_url="https://github.example/o/r/pull/8", started_at=start + 1,
               finished_at=start + 80, tests={"command": "pytest", "exit_code": 1, "passed": 1, "failed": 1, "errors": 0,
                                              "output": "1 passed, 1 failed", "junit": [
                   {"name": "test_add", "classname": "tests.test_calc", "seconds": 0.01, "outcome": "passed", "message": ""},
                   {"name": "test_sub", "classname": "tests.test_calc", "seconds": 0.02, "outcome": "failed",
                    "message": "assert <1> == 2"}]})
    return run_id


def test_page_shows_timeline_transcript_tests_and_highlighted_diff_all_escaped(client, settings, redis_conn):
    finished_run(redis_conn)
    page = client.get(link(settings)).get_data(as_text=True)
    timeline = page[page.index('id="timeline"'):page.index('id="tests"')]
    assert [p in timeline for p in ("queued", "checking out", "agent working", "publishing")] == [True] * 4
    assert "51.0 s" in timeline and "10.0 s" in timeline  # agent 9→60, publishing 70→80
    assert 'class="diff"' in page and "&lt;/pre&gt;&lt;script&gt;x()&lt;/script&gt;" in page and "<script>x()" not in page
    assert "Let me look &lt;img src=x&gt;" in page and "cat calc.py" in page and "120 + 30 tokens" in page
    assert "tests.test_calc.test_sub" in page and "assert &lt;1&gt; == 2" in page and 'class="failed">failed' in page
    assert 'href="https://github.example/o/r/issues/7"' in page and 'href="https://github.example/o/r/pull/8"' in page
    assert "Fix &lt;b&gt;it&lt;/b&gt;" in page and 'data-stream' not in page


def test_cancel_and_retry_are_refused_without_sign_in(client, settings, redis_conn):
    finished_run(redis_conn)
    for action in ("cancel", "retry"):
        resp = client.post(link(settings).replace(f"/runs/{RUN}?", f"/runs/{RUN}/{action}?"), data={"csrf": "x"})
        assert resp.status_code == 403
    assert redis_conn.get(f"codexbot:run:{RUN}:cancel") is None


def test_an_expired_link_gets_a_page_that_says_what_to_do(client, settings, run):
    resp = client.get(link(settings, ttl=-10))
    assert resp.status_code == 403 and "the link has expired: ask for /codex status" in resp.get_data(as_text=True)
