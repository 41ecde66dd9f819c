"""`codexbot up` as a real process: its own Redis, gunicorn and workers; a webhook runs to a pull request,
a killed worker comes back, and Ctrl-C (SIGINT) stops everything, Redis last, with no process left behind.

The GitHub and OpenAI emulators come from tests/stack.py; `up` gets their settings as environment variables.
"""

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from jobs.host import process_tree
from jobs.host.redis_server import plan_redis
from jobs.records.runs import load_run, read_log
from jobs.settings import Settings, SettingsError
from jobs.host.supervisor import ChildSpec, RestartPolicy, Supervisor
from tests import sample_repo
from tests.services import free_port
from tests.stack import ROOT, WEBHOOK_SECRET, Stack
from tests.test_faults import Gate

REPO = sample_repo.REPO


class Up:
    """A running `codexbot up` and every line it printed."""

    def __init__(self, env: dict[str, str], *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "cli", "up", *args], env=env, cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.lines: list[str] = []
        self.seen: set[int] = set()  # every process of the tree, sampled while it runs
        self.matched_at = -1  # index of the line wait_for last matched
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            with self.changed:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.changed.notify_all()

    @property
    def output(self) -> str:
        with self.changed:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 60, after: int = 0) -> re.Match:
        """The first line (from line `after` on) that matches; fails with the output when none does in time."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while time.monotonic() < deadline:
                for index in range(after, len(self.lines)):
                    if match := re.search(pattern, self.lines[index]):
                        self.matched_at = index
                        return match
                if not self.reader.is_alive():
                    break  # `up` has exited and all it printed is read
                self.changed.wait(0.2)
        pytest.fail(f"`codexbot up` never printed /{pattern}/:\n" + "\n".join(self.lines[-80:]))

    def sample_tree(self) -> set[int]:
        self.seen |= process_tree.descendants(self.proc.pid)
        return self.seen

    def kill(self) -> None:
        if self.proc.poll() is None:
            process_tree.kill_tree(self.proc.pid)
        self.proc.wait(10)


def up_env(stack: Stack, tmp_path: Path, port: int) -> dict[str, str]:
    env = stack.env()
    del env["CODEXBOT_REDIS_URL"]  # `up` starts its own
    env.update(CODEXBOT_DATA_DIR=str(tmp_path / "up-data"), CODEXBOT_PUBLIC_URL=f"http://127.0.0.1:{port}",
               CODEXBOT_WEB_WORKERS="1")
    return env


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    pytest.fail(f"{what} did not happen within {timeout} s")


def test_up_serves_a_webhook_to_a_pull_request_restarts_a_killed_worker_and_stops_cleanly(stack, tmp_path):
    port = free_port()
    up = Up(up_env(stack, tmp_path, port), "--workers", "2", "--port", str(port), "--stop-timeout", "10")
    try:
        banner = up.wait_for(r"Redis at (redis://\S+) \(started here")
        up.wait_for(r"ready; Ctrl-C stops everything")
        with pytest.raises(redis.AuthenticationError):  # what a setup command on the host network would meet
            redis.Redis.from_url(banner.group(1)).ping()
        password = (tmp_path / "up-data" / "redis" / "password").read_text()
        assert password not in up.output and oct((tmp_path / "up-data" / "redis" / "password").stat().st_mode)[-3:] == "600"
        conn = redis.Redis.from_url(banner.group(1), password=password)
        config = conn.config_get("*")  # redis-py decodes CONFIG GET replies itself
        assert (config["appendonly"], config["maxmemory-policy"], config["save"]) == ("yes", "noeviction", "")
        assert config["dir"] == str(tmp_path / "up-data" / "redis") and config["bind"] == "127.0.0.1"
        out = up.output
        assert f"GitHub webhook URL: http://127.0.0.1:{port}/webhooks/github" in out
        assert f"GitLab webhook URL: http://127.0.0.1:{port}/webhooks/gitlab" in out
        assert "missing: gitlab: no GitLab token is stored" in out  # `codexbot check --offline`, on up's own Redis
        assert "missing: settings" not in out and "missing: github app" not in out

        run_id = ask(stack, port)
        run = wait_until(lambda: (r := load_run(conn, run_id)) and r.is_final and r, 60, "the run")
        assert run.status == "succeeded", "\n".join(read_log(conn, run_id))
        [pull] = stack.github.list_pulls(REPO)
        assert stack.github.read_file_at(REPO, pull["head"]["ref"], "calc.py") == sample_repo.FIXED_CALC

        killed = kill_and_see_restarted(up, "worker-1")
        tree = up.sample_tree()
        named = {int(p) for p in re.findall(r"started \S+ \(pid (\d+)\)", up.output)}
        assert named - {killed} <= tree and len(tree) > len(named)  # gunicorn's own worker is in the tree too
        assert len(processes_with_env(f"CODEXBOT_DATA_DIR={tmp_path / 'up-data'}")) >= 5
        up.proc.send_signal(signal.SIGINT)
        assert up.proc.wait(40) == 0, up.output[-3000:]
    finally:
        up.kill()
    out = up.output
    assert "stopped cleanly" in out and "Calling fsync() on the AOF file" in out
    assert out.index("stopping redis") > max(out.index("stopping web"), out.index("stopping worker-2"))
    assert [p for p in tree | named if process_tree.alive(p)] == []
    assert processes_with_env(f"CODEXBOT_DATA_DIR={tmp_path / 'up-data'}") == []
    assert list((tmp_path / "up-data" / "redis" / "appendonlydir").glob("*.aof"))


def kill_and_see_restarted(up: Up, name: str) -> int:
    """SIGKILL a worker; `up` must start a new one. The killed pid."""
    killed = int(up.wait_for(rf"started {name} \(pid (\d+)\)").group(1))
    up.sample_tree()
    os.kill(killed, signal.SIGKILL)
    up.wait_for(rf"{name} stopped \(signal SIGKILL\); restarting it in 1 s")
    restarted = int(up.wait_for(rf"started {name} \(pid (\d+)\)", after=up.matched_at + 1).group(1))
    assert restarted != killed and process_tree.alive(restarted)
    return killed


def processes_with_env(entry: str) -> list[str]:
    """Every live process whose environment holds entry: whatever `up` started inherited it."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as environ:
                if entry.encode() in environ.read().split(b"\0") and process_tree.alive(int(pid)):
                    found.append(process_tree.describe(int(pid)))
        except OSError:
            continue  # exited meanwhile, or not ours to read
    return found


def ask(stack: Stack, port: int) -> str:
    stack.github.set_webhook(f"http://127.0.0.1:{port}/webhooks/github", WEBHOOK_SECRET)
    number = stack.github.open_issue(REPO, "Tests fail", "`test_add` fails.", user="alice")["number"]
    delivery = stack.github.comment_as("alice", REPO, number, "/codex fix the failing test")
    assert delivery.status == 202, delivery.response
    return json.loads(delivery.response)["run_id"]


def test_ctrl_c_during_a_run_lets_the_worker_finish_it_and_the_aof_keeps_it(stack, tmp_path):
    gate = Gate(sample_repo.fix_script()[0])
    stack.model.set_script([gate] + sample_repo.fix_script()[1:])
    port = free_port()
    up = Up(up_env(stack, tmp_path, port), "--workers", "1", "--port", str(port), "--stop-timeout", "30")
    try:
        up.wait_for("ready; Ctrl-C stops everything")
        run_id = ask(stack, port)
        assert gate.entered.wait(30), "the agent never asked the model"
        up.proc.send_signal(signal.SIGINT)
        up.wait_for(r"stopping worker-1")
        time.sleep(1)
        assert up.proc.poll() is None and "stopping redis" not in up.output  # Redis waits for the worker's job
        gate.released.set()
        assert up.proc.wait(60) == 0, up.output[-3000:]
    finally:
        gate.released.set()
        up.kill()
    assert "stopped cleanly" in up.output and len(stack.github.list_pulls(REPO)) == 1
    with AofRedis(tmp_path / "up-data" / "redis") as conn:  # the run's end was written before Redis stopped
        assert load_run(conn, run_id).status == "succeeded"


class AofRedis:
    """A redis-server on `up`'s data dir after `up` has stopped, to read what it kept."""

    def __init__(self, data: Path):
        self.port = free_port()
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(data),
                "--appendonly", "yes", "--save", ""]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)

    def __enter__(self) -> redis.Redis:
        conn = redis.Redis(port=self.port, socket_connect_timeout=0.5)  # no password: this one is the test's own
        wait_until(lambda: self._answers(conn), 15, "redis-server on the kept data")
        return conn

    @staticmethod
    def _answers(conn: redis.Redis) -> bool:
        try:
            return conn.ping()
        except redis.ConnectionError:
            return False

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def test_up_uses_a_redis_given_in_the_settings_and_starts_none(stack, tmp_path, redis_server):
    port = free_port()
    env = dict(up_env(stack, tmp_path, port), CODEXBOT_REDIS_URL=redis_server.url)
    up = Up(env, "--workers", "1", "--port", str(port))
    try:
        up.wait_for("ready; Ctrl-C stops everything")
        up.proc.send_signal(signal.SIGTERM)
        assert up.proc.wait(40) == 0, up.output[-3000:]
    finally:
        up.kill()
    assert f"Redis at {redis_server.url} (not started here)" in up.output
    assert "started redis" not in up.output and not (tmp_path / "up-data" / "redis").exists()


def test_when_the_web_server_dies_up_stops_everything_and_says_so(stack, tmp_path):
    port = free_port()
    up = Up(up_env(stack, tmp_path, port), "--workers", "1", "--port", str(port))
    try:
        up.wait_for("ready; Ctrl-C stops everything")
        web = int(up.wait_for(r"started web \(pid (\d+)\)").group(1))
        tree = up.sample_tree()
        os.kill(web, signal.SIGKILL)  # gunicorn's own worker is orphaned: `up` adopted it and must end it
        assert up.proc.wait(40) == 1, up.output[-3000:]
    finally:
        up.kill()
    assert "web stopped (signal SIGKILL): see its output above" in up.output
    assert "stopped; not everything stopped cleanly: see above" in up.output
    assert [p for p in tree if process_tree.alive(p)] == []
    assert processes_with_env(f"CODEXBOT_DATA_DIR={tmp_path / 'up-data'}") == []


def test_up_without_a_webhook_secret_says_what_to_set_and_starts_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEXBOT_", "OPENAI_"))}
    env["CODEXBOT_DATA_DIR"] = str(tmp_path / "data")
    proc = subprocess.run([sys.executable, "-m", "cli", "up", "--port", str(free_port())], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "CODEXBOT_GITHUB_WEBHOOK_SECRET is not set" in proc.stderr and "started" not in proc.stdout
    assert not (tmp_path / "data").exists()


def test_redis_plan_starts_one_on_a_configured_local_port_and_uses_one_that_answers(tmp_path, redis_server):
    port = free_port()
    plan = plan_redis(Settings(redis_url=f"redis://127.0.0.1:{port}/3", data_dir=str(tmp_path)))
    password = (tmp_path / "redis" / "password").read_text()
    assert plan.url == f"redis://:{password}@127.0.0.1:{port}/3" and len(password) >= 40
    assert plan.argv[1] == str(tmp_path / "redis" / "redis.conf") and password not in plan.argv
    assert (tmp_path / "redis" / "redis.conf").read_text() == f"requirepass {password}\n"
    options = dict(zip(plan.argv[2::2], plan.argv[3::2]))
    assert (options["--port"], options["--dir"], options["--appendonly"]) == (str(port), str(tmp_path / "redis"), "yes")
    assert plan_redis(Settings(redis_url=redis_server.url, data_dir=str(tmp_path))).argv is None
    by_socket = plan_redis(Settings(redis_url=f"unix://{tmp_path}/r.sock?db=2", data_dir=str(tmp_path)))
    assert by_socket.url == f"unix://{tmp_path}/r.sock?db=2"
    options = dict(zip(by_socket.argv[1::2], by_socket.argv[2::2]))
    assert (options["--port"], options["--unixsocket"], options["--unixsocketperm"]) == ("0", f"{tmp_path}/r.sock", "700")


def test_redis_plan_refuses_a_configured_port_held_by_something_else(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(SettingsError, match=f"port {port} of CODEXBOT_REDIS_URL is taken by something else"):
            plan_redis(Settings(redis_url=f"redis://127.0.0.1:{port}/0", data_dir=str(tmp_path)))


def quick_supervisor(out: io.StringIO) -> Supervisor:
    return Supervisor(out=out, policy=RestartPolicy(first_delay=0.05, max_delay=0.2, max_crashes=3), grace=2, cold=0.5)


def test_a_worker_that_keeps_crashing_is_reported_not_restarted_forever():
    out = io.StringIO()
    supervisor = quick_supervisor(out)
    supervisor.start(ChildSpec("worker-1", [sys.executable, "-c", "print('no config'); raise SystemExit(3)"],
                               dict(os.environ), restart=True))
    stop = threading.Event()
    timer = threading.Timer(20, stop.set)  # the bound: the loop must end well before this
    timer.start()
    try:
        reason = supervisor.watch(stop)
    finally:
        timer.cancel()
    assert reason == "every worker keeps crashing: fix what their output above says, then start again"
    text = out.getvalue()
    assert text.count("started worker-1") == 3 and text.count("worker-1 | no config") == 3
    assert "worker-1 crashed 3 times in a row (exit code 3): not restarting it" in text
    assert supervisor.stop(threading.Event()) is False


def test_a_child_that_ignores_sigterm_is_killed_with_what_it_started():
    script = ("import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
              "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True); "
              "print(p.pid, flush=True); time.sleep(60)")
    out = io.StringIO()
    supervisor = quick_supervisor(out)
    child = supervisor.start(ChildSpec("worker-1", [sys.executable, "-c", script], dict(os.environ), restart=True))
    grandchild = int(wait_until(lambda: re.search(r"worker-1 \| (\d+)", out.getvalue()), 20, "the grandchild").group(1))
    assert process_tree.alive(grandchild)
    started = time.monotonic()
    assert supervisor.stop(threading.Event()) is False
    assert time.monotonic() - started < 2 + 0.5 + 0.5 + 2
    assert child.proc.returncode == -signal.SIGKILL and not process_tree.alive(grandchild)
    text = out.getvalue()
    assert "worker-1 did not stop within 2 s: asking again" in text and "killed worker-1 and 1 process(es)" in text


def test_a_second_ctrl_c_skips_the_grace_period():
    out = io.StringIO()
    supervisor = quick_supervisor(out)
    supervisor.grace = 30
    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    child = supervisor.start(ChildSpec("worker-1", [sys.executable, "-c", script], dict(os.environ), restart=True))
    wait_until(lambda: "worker-1 | up" in out.getvalue(), 20, "the child starting")
    hurry = threading.Event()
    hurry.set()
    started = time.monotonic()
    assert supervisor.stop(hurry) is False
    assert time.monotonic() - started < 5 and child.proc.returncode == -signal.SIGKILL
