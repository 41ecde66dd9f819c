"""`make demo`: start a private Redis and `codexbot serve`, then deliver GitHub webhooks to it as GitHub would.

What exists so far is the front door: it verifies, parses, records and enqueues. The worker that turns
the queued task into a pull request arrives with the end-to-end issue; this demo says so at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis
import requests

from jobs.intake import job_id_for, load_task, make_queue
from tests.payloads import github_headers, load_corpus
from tests.services import RedisServer, free_port

SECRET = "demo-webhook-secret"


def start_web(redis_url: str, port: int, workdir: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEXBOT_")}
    env.update(CODEXBOT_REDIS_URL=redis_url, CODEXBOT_GITHUB_WEBHOOK_SECRET=SECRET)
    log = open(workdir / "web.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port), "--workers", "2"],
                            env=env, stdout=log, stderr=log, cwd=workdir)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return proc
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"codexbot serve did not start; see {workdir / 'web.log'}")


def deliver(url: str, body_text: str, delivery: str, secret: str = SECRET) -> requests.Response:
    payload = load_corpus("github", "issue_comment", "created.with-installation.json")
    payload["comment"]["body"] = body_text
    body = json.dumps(payload).encode()
    return requests.post(url, data=body, headers=github_headers(body, "issue_comment", delivery, secret), timeout=5)


def show(label: str, resp: requests.Response) -> None:
    print(f"  {label:<44} → {resp.status_code} {resp.text.strip()}")


def main() -> int:
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"codexbot-demo-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    with RedisServer() as server:
        port = free_port()
        web = start_web(server.url, port, workdir)
        url = f"http://127.0.0.1:{port}/webhooks/github"
        try:
            print(f"codexbot serve is listening on http://127.0.0.1:{port} (Redis {server.url})\n")
            print("Delivering signed issue_comment webhooks, as GitHub would:")
            task_delivery = str(uuid.uuid4())
            accepted = deliver(url, "/codex fix the failing test", task_delivery)
            show('"/codex fix the failing test"', accepted)
            show("the same delivery again (redelivery)", deliver(url, "/codex fix the failing test", task_delivery))
            show('"Looks good to me"', deliver(url, "Looks good to me", str(uuid.uuid4())))
            show('"/codex fix it" signed with a wrong secret', deliver(url, "/codex fix it", str(uuid.uuid4()), "wrong"))
            show('"/codex fix it --attempts 9"', deliver(url, "/codex fix it --attempts 9", str(uuid.uuid4())))
            conn = redis.Redis.from_url(server.url)
            run_id = accepted.json()["run_id"]
            print(f"\nQueued jobs: {make_queue(conn, 'codexbot').job_ids}")
            print(f"The task stored for {job_id_for(run_id)}:")
            print(json.dumps(json.loads(load_task(conn, run_id).to_json()), indent=2))
        finally:
            web.terminate()
            web.wait(30)
    print("\nNot yet: the worker that runs the agent and opens the pull request (the end-to-end issue).")
    print(f"Web server log: {workdir / 'web.log'}")
    return 0 if accepted.status_code == 202 else 1


if __name__ == "__main__":
    sys.exit(main())
