"""Restarting the web app, a worker and Redis (append-only file on, as production runs it) loses no finished
run's record or log: neither one still in Redis nor one whose log the janitor archived to the data dir."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from dataclasses import asdict

import redis
import requests

from bot import create_app
from jobs.upkeep.tidy import tidy_runs
from jobs.access.links import sign_run_link
from jobs.records.parts import RunParts
from jobs.records.runs import load_run
from tests import sample_repo
from tests.emulators.serving import BackgroundServer
from tests.services import RedisServer
from tests.stack import WEBHOOK_SECRET, Stack

REPO = sample_repo.REPO


class PersistentRedis(RedisServer):
    """redis-server with `appendonly yes` whose data dir outlives a restart."""

    def start(self, timeout: float = 10.0) -> "PersistentRedis":
        self.proc = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_ready(timeout)
        return self

    def restart(self) -> None:
        self.proc.terminate()  # SIGTERM: redis flushes the append-only file and exits
        self.proc.wait(10)
        self.start()


def ask(stack: Stack, text: str) -> str:
    number = stack.github.open_issue(REPO, "Tests fail", "", user="alice")["number"]
    delivery = stack.github.comment_as("alice", REPO, number, f"/codex {text}")
    assert delivery.status == 202, delivery.response
    return json.loads(delivery.response)["run_id"]


def wait_final(conn: redis.Redis, run_id: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = load_run(conn, run_id)
        if run is not None and run.is_final:
            return
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish within {seconds} s")


def snapshot(conn, data_dir, run_id) -> tuple[dict, list[str]]:
    return asdict(load_run(conn, run_id)), RunParts(conn, data_dir, run_id).log()


def test_web_worker_and_redis_restart_lose_no_finished_run(tmp_path):
    with PersistentRedis() as server, Stack(server.url, workdir=tmp_path) as stack:
        stack.model.set_script(sample_repo.fix_script() * 3)
        conn, data_dir = redis.Redis.from_url(server.url), stack.settings.data_dir
        worker = stack.start_worker(tmp_path / "worker-1.log")
        archived_run = ask(stack, "fix the failing test")
        wait_final(conn, archived_run)
        assert tidy_runs(conn, data_dir, 90, now=time.time() + 600)[0] == [archived_run]  # the periodic pass, later
        live_run = ask(stack, "fix the failing test again")
        wait_final(conn, live_run)
        before = {run_id: snapshot(conn, data_dir, run_id) for run_id in (archived_run, live_run)}
        assert conn.exists(f"codexbot:run:{archived_run}:log") == 0 and conn.exists(f"codexbot:run:{live_run}:log") == 1

        worker.terminate()
        worker.wait(30)
        stack.web.stop()
        server.restart()

        conn = redis.Redis.from_url(server.url)
        stack.web = BackgroundServer(create_app(stack.settings))
        stack.web.start()
        stack.github.set_webhook(stack.web.url + "/webhooks/github", WEBHOOK_SECRET)
        stack.start_worker(tmp_path / "worker-2.log")
        for run_id, (record, log) in before.items():
            assert snapshot(conn, data_dir, run_id) == (record, log) and record["status"] == "succeeded"
            assert len(log) > 5 and any("run succeeded" in line for line in log)
            page = requests.get(sign_run_link(stack.web.url, stack.settings.secret_key, run_id), timeout=10)
            assert page.status_code == 200 and log[-1].split(" ", 1)[1].replace("'", "&#39;") in page.text
            stream = requests.get(sign_run_link(stack.web.url, stack.settings.secret_key, run_id).replace("?", "/log?"),
                                  timeout=30).text
            assert re.findall(r"^id: (\d+)$", stream, re.M) == [str(n) for n in range(len(log))]  # each line once
            assert stream.rstrip().endswith("event: end\ndata: succeeded")
        after_restart = ask(stack, "fix the failing test once more")  # the queue works on the restarted Redis
        wait_final(conn, after_restart)
        assert load_run(conn, after_restart).status == "succeeded", load_run(conn, after_restart).error
