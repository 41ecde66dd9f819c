"""Redis killed and restarted while deliveries arrive: each delivery is recorded and later answered, or was
answered 5xx so GitHub redelivers it; none is answered 2xx and lost.

A redis-server of the test's own with the append-only file synced on every write (what the deploy files
ask for), killed with SIGKILL mid-stream and started again on the same port and directory.
"""

import json
import shutil
import signal
import subprocess
import threading
import time

import pytest
import redis

from tests import sample_repo
from tests.services import RedisServer
from tests.stack import Stack

pytestmark = [pytest.mark.faults, pytest.mark.slow]
REPO = sample_repo.REPO
SENDERS, PER_SENDER = 3, 10


class DurableRedis(RedisServer):
    """A RedisServer that keeps every acknowledged write across a crash (appendonly, fsync always)."""

    def start(self, timeout: float = 10.0) -> "DurableRedis":
        self.proc = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no",
             "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_ready(timeout)
        return self

    def crash(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def durable(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = DurableRedis().start()
    yield server
    server.stop()


def send_comments(stack, number: int, count: int, sent: list) -> None:
    for i in range(count):
        sent.append(stack.github.comment_as("alice", REPO, number, "/codex help"))


def test_no_delivery_is_acknowledged_and_lost_across_a_redis_crash(durable, tmp_path):
    with Stack(durable.url, workdir=tmp_path) as stack:
        number = stack.github.open_issue(REPO, "Help", "", user="alice")["number"]
        sent: list = []
        threads = [threading.Thread(target=send_comments, args=(stack, number, PER_SENDER, sent))
                   for _ in range(SENDERS)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(sent) < 5:
            assert time.monotonic() < deadline, "no deliveries went through before the crash"
            time.sleep(0.01)
        durable.crash()
        while len(sent) < 12 and any(t.is_alive() for t in threads):
            assert time.monotonic() < deadline, "deliveries stopped while Redis was down"
            time.sleep(0.01)
        durable.start()
        for thread in threads:
            thread.join(60)

        statuses = [d.status for d in sent]
        assert len(sent) == SENDERS * PER_SENDER and all(s in (202, 503) for s in statuses), statuses
        refused = [d for d in sent if d.status == 503]
        assert refused, "Redis was down but every delivery was acknowledged"
        for delivery in refused:  # what GitHub does with a 5xx: deliver again later
            again = stack.github.redeliver(delivery.id)
            # 200 duplicate: Redis applied the script but died before it answered; recorded, so not lost
            assert again.status == 202 or (again.status == 200 and '"duplicate": true' in again.response), again
        accepted = {json.loads(d.response)["run_id"] for d in sent if d.status == 202}
        conn = redis.Redis.from_url(durable.url)
        for run_id in accepted:
            assert conn.exists(f"codexbot:run:{run_id}"), f"run {run_id} was acknowledged but is gone"

        proc = stack.run_worker_burst(timeout=120)
        assert proc.returncode == 0, proc.stderr[-3000:]
        replies = [c for c in stack.github.comments(REPO, number) if c["user"]["type"] == "Bot"]
        assert len(replies) == SENDERS * PER_SENDER, "every delivery is answered exactly once"
        assert stack.github.errors == []
