"""Clients that send their request slowly (slowloris) hold no thread that answers webhooks.

A real `codexbot serve --workers 1` with its default threads; more connections than it has threads each send
the start of a request and then stall. A signed webhook is still answered within a second, and the server
closes the stalled connections itself once their headers are overdue. Real HTTP on 127.0.0.1 only; every
socket has a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import uuid

import pytest
import requests

from bot.server import HEADER_SECONDS
from jobs.settings import Settings
from tests.payloads import github_headers
from tests.services import free_port
from tests.test_web_starvation import CLI, _env, _wait_up

pytestmark = pytest.mark.slow
STALLED = 4 * Settings.web_threads  # four times the threads of the one process


def _stall(port: int) -> socket.socket:
    """A connection that sends a request line and one header, then nothing more."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\nX-GitHub-Event: issue_comment\r\n")
    return sock


def _closed_by_server(sock: socket.socket, deadline: float) -> bool:
    sock.settimeout(max(0.1, deadline - time.monotonic()))
    try:
        while sock.recv(4096):  # an error answer (408) may come first, then the close
            pass
        return True
    except (TimeoutError, socket.timeout):
        return False
    except ConnectionResetError:
        return True


def test_stalled_request_headers_leave_webhooks_answered_within_a_second(redis_server, redis_conn, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(CLI + ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                            env=_env(redis_server.url, port), cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    stalled: list[socket.socket] = []
    try:
        _wait_up(base, proc)
        stalled = [_stall(port) for _ in range(STALLED)]
        time.sleep(0.5)  # the server has seen them all
        body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
        began = time.monotonic()
        try:
            answer = requests.post(base + "/webhooks/github", data=body,
                                   headers=github_headers(body, "ping", str(uuid.uuid4())), timeout=10)
            took, status = time.monotonic() - began, answer.status_code
        except requests.Timeout:
            took, status = time.monotonic() - began, None
        assert status == 200 and took < 1.0, f"with {STALLED} stalled clients the webhook took {took:.2f} s ({status})"
        deadline = began + HEADER_SECONDS + 10
        closed = sum(_closed_by_server(sock, deadline) for sock in stalled)
        assert closed == STALLED, f"{STALLED - closed} stalled connections were still open {HEADER_SECONDS + 10} s on"
    finally:
        for sock in stalled:
            sock.close()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
