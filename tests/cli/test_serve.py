"""`codexbot serve` runs the app under granian on the loopback, configured by the environment."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests

from tests.payloads import WEBHOOK_SECRET, github_headers, load_corpus
from tests.services import free_port

CLI = [sys.executable, "-m", "cli"]


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEXBOT_", "OPENAI_"))}
    env.update(extra)
    return env


def test_missing_webhook_secret_stops_serve_with_one_sentence(tmp_path):
    proc = subprocess.run(CLI + ["serve", "--port", str(free_port())], env=clean_env(), cwd=tmp_path,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "CODEXBOT_GITHUB_WEBHOOK_SECRET" in proc.stderr


def test_bad_setting_stops_serve(tmp_path):
    proc = subprocess.run(CLI + ["serve"], env=clean_env(CODEXBOT_REDIS_URL="nowhere"), cwd=tmp_path,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0 and "CODEXBOT_REDIS_URL" in proc.stderr


@pytest.fixture
def server(redis_server, redis_conn, tmp_path):
    port = free_port()
    env = clean_env(CODEXBOT_REDIS_URL=redis_server.url, CODEXBOT_GITHUB_WEBHOOK_SECRET=f"old,{WEBHOOK_SECRET}")
    proc = subprocess.Popen(CLI + ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("codexbot serve did not come up: " + proc.communicate()[1][-2000:])
    yield base, proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(30)


def test_serve_accepts_a_signed_delivery_and_logs_it(server):
    base, proc = server
    payload = load_corpus("github", "issue_comment", "created.with-installation.json")
    payload["comment"]["body"] = "/codex fix the failing test"
    body = json.dumps(payload).encode()
    delivery = str(uuid.uuid4())
    resp = requests.post(base + "/webhooks/github", data=body, headers=github_headers(body, "issue_comment", delivery), timeout=5)
    assert resp.status_code == 202
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(line.get("delivery") == delivery and line.get("status") == 202 for line in lines)


def test_serve_refuses_an_oversized_body_without_taking_it(server):
    base, _ = server
    with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=5) as sock:
        sock.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"X-GitHub-Event: issue_comment\r\nX-GitHub-Delivery: big\r\n"
                     b"Content-Length: 30000000\r\n\r\n" + b"x" * 65536)
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413")


def test_people_watching_run_pages_do_not_hold_up_webhooks(redis_server, redis_conn, tmp_path):
    """One web process, more open live logs than it has processes: a webhook is still answered at once."""
    from jobs.access.links import sign_run_link
    from jobs.records.runs import append_log, run_key

    port, secret_key, run_id = free_port(), "serve-test-secret-key", "ab" * 8
    redis_conn.hset(run_key(run_id), mapping={"status": "running", "repo": "octo/calc", "number": "1",
                                               "requester": "alice", "created_at": repr(time.time())})
    append_log(redis_conn, run_id, "phase: agent working")
    env = clean_env(CODEXBOT_REDIS_URL=redis_server.url, CODEXBOT_GITHUB_WEBHOOK_SECRET=WEBHOOK_SECRET,
                    CODEXBOT_SECRET_KEY=secret_key, CODEXBOT_PUBLIC_URL=f"http://127.0.0.1:{port}",
                    CODEXBOT_WEB_THREADS="8")
    proc = subprocess.Popen(CLI + ["serve", "--port", str(port), "--workers", "1"], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    streams = []
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(base + "/healthz", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "codexbot serve did not come up"
                time.sleep(0.05)
        page = sign_run_link(base, secret_key, run_id)
        log_url = page.replace(f"/runs/{run_id}?", f"/runs/{run_id}/log?")
        def watch() -> None:  # as a browser does: read the live log as it comes, for as long as it lasts
            try:
                stream = requests.get(log_url, stream=True, timeout=30)
                streams.append(stream)
                if stream.status_code == 503 and stream.headers.get("Retry-After"):
                    opened.release()  # over the cap of live logs per client: the page polls instead
                    return
                for line in stream.iter_lines():
                    if line.startswith(b"data:"):
                        opened.release()
            except requests.RequestException:
                return  # the server was stopped under it at the end of the test

        opened = threading.Semaphore(0)
        for _ in range(4):  # each holds a connection open while the run goes on (up to 25 s)
            threading.Thread(target=watch, daemon=True).start()
        for _ in range(4):
            assert opened.acquire(timeout=10), "a live log did not start"
        body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
        answer = requests.post(base + "/webhooks/github", data=body,
                               headers=github_headers(body, "ping", str(uuid.uuid4())), timeout=10)
        assert answer.status_code == 200
        assert any(stream.status_code == 200 for stream in streams), "no live log was streamed at all"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # not a shutdown test: a graceful stop waits for the live logs
        proc.wait(30)
