"""An open live log wakes when Redis says the run changed, not on its next look; a Redis that refuses CONFIG still
gets its lines delivered, by looking every half second. Real redis-servers, the real app on a real HTTP server."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import threading
import time

import pytest
import redis
import requests

from bot import create_app
from jobs.access.links import sign_run_link
from jobs.records.runs import append_log, run_key, update_run
from tests.emulators.serving import BackgroundServer
from tests.services import free_port

RUN = "3a6e000000000001"


def _start_run(conn) -> None:
    conn.hset(run_key(RUN), mapping={"status": "running", "repo": "octo/calc", "number": "1", "requester": "alice",
                                     "created_at": repr(time.time())})
    append_log(conn, RUN, "phase: agent working")


def _latency_of_a_new_line(settings, conn) -> float:
    """Open the live log, let it go quiet, append a line: seconds until the line arrived."""
    _start_run(conn)
    server = BackgroundServer(create_app(settings))
    server.start()
    arrived: list[float] = []
    try:
        url = sign_run_link(server.url, settings.secret_key, RUN).replace(f"/runs/{RUN}?", f"/runs/{RUN}/log?")
        with requests.get(url, stream=True, headers={"Accept": "text/event-stream"}, timeout=(5, 10)) as stream:
            assert stream.status_code == 200
            lines = stream.iter_lines(decode_unicode=True)
            assert next(line for line in lines if line.startswith("data:")).endswith("phase: agent working")
            time.sleep(0.7)  # quiet: the stream is waiting now
            threading.Timer(0.0, append_log, (conn, RUN, "tests passed")).start()
            began = time.monotonic()
            for line in lines:
                if line.startswith("data:") and line.endswith("tests passed"):
                    arrived.append(time.monotonic() - began)
                    break
            update_run(conn, RUN, status="succeeded")
    finally:
        server.stop()
    assert arrived, "the new line never came"
    return arrived[0]


def test_a_quiet_live_log_wakes_on_the_new_line_from_redis(settings, redis_conn):
    took = _latency_of_a_new_line(settings, redis_conn)
    assert took < 1.0, f"the line took {took:.2f} s: the stream waited for its heartbeat instead of Redis"
    flags = redis_conn.config_get("notify-keyspace-events")["notify-keyspace-events"]
    assert set("Klh") <= set(flags)


@pytest.fixture
def redis_without_config():
    """A redis-server whose CONFIG command is renamed away, as some hosted Redis services do."""
    port = free_port()
    proc = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--rename-command", "CONFIG", ""],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conn = redis.Redis(port=port, socket_connect_timeout=0.2)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                conn.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0", conn
    finally:
        conn.close()
        proc.kill()
        proc.wait(10)


def test_without_keyspace_notifications_a_live_log_still_gets_its_lines(settings, redis_without_config):
    url, conn = redis_without_config
    with pytest.raises(redis.ResponseError):
        conn.config_get("notify-keyspace-events")
    took = _latency_of_a_new_line(dataclasses.replace(settings, redis_url=url), conn)
    assert took < 1.5
