"""The run page and its live log (Server-Sent Events), behind signed links."""

import time

import pytest

from jobs.links import sign_run_link
from jobs.runs import append_log, update_run

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
    return [block for block in text.split("\n\n") if block.strip()]


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
