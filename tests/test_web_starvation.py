"""People watching runs never starve the webhooks: a real `codexbot serve --workers 1` with its default threads,
50 open live logs and 50 API long-polls, and a signed webhook is still answered within a second.

Every live log still gets its lines: live over Server-Sent Events, or, over the cap, a 503 with Retry-After and
then polling as the run page's script does (the same URL asked for JSON). Everything runs against a real
redis-server, the real web server and real HTTP on 127.0.0.1; every client has a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests

from jobs.access.api_tokens import ApiTokens
from jobs.access.links import sign_run_link
from jobs.records.runs import append_log, run_key, update_run
from tests.payloads import WEBHOOK_SECRET, github_headers
from tests.services import free_port

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "cli"]
RUN = "5ea1ed0000000050"
SECRET_KEY = "starvation-test-secret-key"
WATCHERS = 50
LONG_POLLS = 50
CLIENT_SECONDS = 40  # no client of this test waits longer than this, whatever the server does


def _env(redis_url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEXBOT_", "OPENAI_"))}
    env.update(CODEXBOT_REDIS_URL=redis_url, CODEXBOT_GITHUB_WEBHOOK_SECRET=WEBHOOK_SECRET,
               CODEXBOT_SECRET_KEY=SECRET_KEY, CODEXBOT_PUBLIC_URL=f"http://127.0.0.1:{port}")
    return env


def _wait_up(base: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, "codexbot serve exited while starting"
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    pytest.fail("codexbot serve did not come up within 20 s")


def _running_api_run(conn) -> None:
    trigger = {"forge": "github", "event": "api", "source": "api", "title": "fix it"}
    conn.hset(run_key(RUN), mapping={"status": "running", "repo": "octo/calc", "number": "0", "requester": "alice",
                                     "created_at": repr(time.time()), "forge": "github", "schema": "2",
                                     "trigger": json.dumps(trigger)})
    append_log(conn, RUN, "phase: setup")
    append_log(conn, RUN, "phase: agent working")


def _sse_lines(stream: requests.Response, deadline: float) -> tuple[list[str], bool]:
    """The data of each message event until `end` (or the stream closing); True if `end` came."""
    lines, event, data = [], "message", []
    for raw in stream.iter_lines(decode_unicode=True):
        if time.monotonic() > deadline:
            break
        if raw == "":
            if event == "end":
                return lines, True
            if data:
                lines.append("\n".join(data))
            event, data = "message", []
        elif raw.startswith("event:"):
            event = raw[6:].strip()
        elif raw.startswith("data:"):
            data.append(raw[5:].removeprefix(" "))
    return lines, False


def _poll_lines(url: str, retry_after: float, deadline: float) -> tuple[list[str], bool]:
    """What the run page does after a 503: ask the same URL for JSON every Retry-After seconds until the end."""
    lines: list[str] = []
    while time.monotonic() < deadline:
        answer = requests.get(url, params={"from": len(lines)}, headers={"Accept": "application/json"}, timeout=5)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        lines += body["lines"]
        if body["final"] and body["next"] == len(lines):
            return lines, True
        time.sleep(min(retry_after, max(0.0, deadline - time.monotonic())))  # as the page waits
    return lines, False


def _watch(url: str, results: list[dict], started: threading.Semaphore) -> None:
    deadline = time.monotonic() + CLIENT_SECONDS
    outcome: dict = {"status": None}
    try:
        with requests.get(url, stream=True, headers={"Accept": "text/event-stream"}, timeout=(5, 30)) as stream:
            outcome["status"] = stream.status_code
            started.release()
            if stream.status_code == 503:
                outcome["retry_after"] = stream.headers.get("Retry-After")
                outcome["lines"], outcome["ended"] = _poll_lines(url, float(outcome["retry_after"] or 1), deadline)
            else:
                outcome["lines"], outcome["ended"] = _sse_lines(stream, deadline)
    except (requests.RequestException, AssertionError, ValueError) as exc:
        outcome["error"] = repr(exc)
    results.append(outcome)


def _long_poll(base: str, token: str, start: int, results: list[dict]) -> None:
    try:
        answer = requests.get(f"{base}/api/runs/{RUN}/log", params={"from": start, "wait": 25},
                              headers={"Authorization": f"Bearer {token}"}, timeout=(5, 30))
        results.append({"status": answer.status_code, "body": answer.json(),
                        "retry_after": answer.headers.get("Retry-After")})
    except (requests.RequestException, ValueError) as exc:
        results.append({"status": None, "error": repr(exc)})


def test_fifty_live_logs_and_fifty_long_polls_leave_webhooks_answered_within_a_second(redis_server, redis_conn, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    _running_api_run(redis_conn)
    token = ApiTokens(redis_conn, SECRET_KEY).create("alice", ["octo/calc"])[1]
    proc = subprocess.Popen(CLI + ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                            env=_env(redis_server.url, port), cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    watchers: list[dict] = []
    polls: list[dict] = []
    clients: list[threading.Thread] = []
    try:
        _wait_up(base, proc)
        page = sign_run_link(base, SECRET_KEY, RUN)
        log_url = page.replace(f"/runs/{RUN}?", f"/runs/{RUN}/log?")
        started = threading.Semaphore(0)
        for _ in range(WATCHERS):
            clients.append(threading.Thread(target=_watch, args=(log_url, watchers, started), daemon=True))
        for _ in range(LONG_POLLS):
            clients.append(threading.Thread(target=_long_poll, args=(base, token, 2, polls), daemon=True))
        for client in clients:
            client.start()
        answered = sum(started.acquire(timeout=max(0.0, deadline - time.monotonic()))
                       for deadline in [time.monotonic() + 5] for _ in range(WATCHERS))
        time.sleep(0.5)  # the long-polls are in too

        body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
        began = time.monotonic()
        try:
            answer = requests.post(base + "/webhooks/github", data=body,
                                   headers=github_headers(body, "ping", str(uuid.uuid4())), timeout=10)
            took, status = time.monotonic() - began, answer.status_code
        except requests.Timeout:
            took, status = time.monotonic() - began, None
        assert status == 200 and took < 1.0, (
            f"with {answered} of {WATCHERS} live logs answered, the webhook took {took:.2f} s (status {status})")

        print(f"webhook answered in {took * 1000:.0f} ms; keyspace events: {redis_conn.config_get('notify-keyspace-events')}")
        for line in ("phase: tests", "tests passed", "opened a pull request"):
            append_log(redis_conn, RUN, line)
        update_run(redis_conn, RUN, status="succeeded")
        for client in clients:
            client.join(timeout=max(0.0, CLIENT_SECONDS + 5 - (time.monotonic() - began)))
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)

    expected = ["phase: setup", "phase: agent working", "phase: tests", "tests passed", "opened a pull request"]
    assert len(watchers) == WATCHERS and len(polls) == LONG_POLLS, "a client did not finish within its deadline"
    assert [w for w in watchers if "error" in w] == []
    for watcher in watchers:
        assert watcher["ended"], watcher
        assert [line.split(" ", 1)[1] for line in watcher["lines"]] == expected, watcher
    live = [w for w in watchers if w["status"] == 200]
    refused = [w for w in watchers if w["status"] != 200]
    print(f"{len(live)} live logs streamed, {len(refused)} refused and polled; long-polls answered: {len(polls)}")
    assert live, "no live log was streamed at all: the cap is not a cap but a wall"
    assert all(w["status"] == 503 and w["retry_after"] for w in refused), refused[:3]
    assert all(p["status"] == 200 and p["body"]["next"] >= 2 for p in polls), [p for p in polls if p["status"] != 200][:3]
    waited = [p for p in polls if not p["retry_after"]]  # any within the cap waited for the new lines
    assert all(p["body"]["lines"] for p in waited), waited[:3]
    assert len(live) + len(waited) <= 2, "one client address held more than its two long-lived requests"
