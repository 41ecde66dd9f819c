"""Graceful shutdown: SIGTERM to a worker lets its current run finish and leaves queued runs queued; SIGTERM to
`codexbot serve` (granian) answers the request it is reading before it exits.
"""

import json
import os
import signal
import socket
import time
import uuid

import pytest

from jobs.records.runs import load_run, read_log
from tests import sample_repo
from tests.cli.test_serve import server  # noqa: F401  (fixture: `codexbot serve` on a free port)
from tests.payloads import github_headers, load_corpus
from tests.test_faults import Gate, ask, children, start_worker, stack  # noqa: F401  (fixture)

pytestmark = [pytest.mark.faults, pytest.mark.slow]
REPO = sample_repo.REPO


def test_sigterm_lets_the_worker_finish_its_run_and_hands_back_the_queued_one(stack, redis_conn, tmp_path):
    gate = Gate(sample_repo.fix_script()[0])
    stack.model.set_script([gate] + sample_repo.fix_script() + sample_repo.fix_script())
    _, running = ask(stack)
    worker = start_worker(stack, tmp_path)
    try:
        assert gate.entered.wait(60), "the agent never asked the model"
        _, waiting = ask(stack)
        worker.send_signal(signal.SIGTERM)  # as `docker stop` and Kubernetes do: to the main process
    finally:
        gate.released.set()
    assert worker.wait(120) == 0, "the worker did not stop after its run"
    assert load_run(redis_conn, running).status == "succeeded", "\n".join(read_log(redis_conn, running))
    assert load_run(redis_conn, waiting).status == "queued"  # never started: the next worker takes it
    proc = stack.run_worker_burst(timeout=150)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert load_run(redis_conn, waiting).status == "succeeded"
    assert len(stack.github.list_pulls(REPO)) == 2


def socket_fds(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            continue
    return count


def test_sigterm_to_the_web_server_finishes_the_request_it_is_reading(server):  # noqa: F811
    base, proc = server
    payload = load_corpus("github", "issue_comment", "created.with-installation.json")
    payload["comment"]["body"] = "/codex fix the failing test"
    body = json.dumps(payload).encode()
    headers = github_headers(body, "issue_comment", str(uuid.uuid4()))
    workers = children(proc.pid)  # the web server's worker processes
    before = {pid: socket_fds(pid) for pid in workers}
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        conn.sendall(f"POST /webhooks/github HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
                     f"Connection: close\r\n{head}\r\n".encode() + body[:100])
        deadline = time.monotonic() + 10
        while not any(socket_fds(pid) > count for pid, count in before.items()):  # a worker accepted it
            assert time.monotonic() < deadline, "no gunicorn worker took the connection"
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        conn.sendall(body[100:])
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 202"), answer[:300]
    proc.communicate(timeout=40)
    assert proc.returncode == 0
