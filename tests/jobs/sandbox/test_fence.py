"""The fence around a sandbox with the network on, with the real bwrap and socat: the allowed upstream answers,
refusals come back as run log lines in the command's own thread, and the forwarder never outlives the sandbox."""

from __future__ import annotations

import os
import time

import pytest

from jobs.run.wiring import make_sandbox
from jobs.sandbox.allowlist import Allowlist
from jobs.sandbox.fence import INSIDE_DIR, FencePolicy
from tests.emulators.package_index import PackageIndex
from tests.jobs.sandbox.test_sandbox import needs_bwrap, processes_with

pytestmark = needs_bwrap


@pytest.fixture
def index():
    with PackageIndex({"tinypkg": ()}) as served:
        yield served


@pytest.fixture
def fenced(tmp_path, index):
    refusals = []
    policy = FencePolicy(Allowlist(("pypi.test",), {"pypi.test": ("127.0.0.1", index.port)}))
    sandbox = make_sandbox("bwrap", tmp_path, fence=policy, on_refused=refusals.append)
    sandbox.refusals = refusals
    yield sandbox
    sandbox.close()


def test_an_allowed_upstream_answers_through_the_fence(fenced):
    result = fenced.run("curl -sS -m 5 http://pypi.test/simple/", network=True)
    assert (result.exit_code, "tinypkg" in result.output) == (0, True), result.output
    assert fenced.refusals == []


def test_each_refusal_is_reported_by_the_time_the_command_returns_with_its_phase(fenced):
    fenced.start_phase("agent", network=True)
    result = fenced.run("curl -sS -m 5 https://a.example/; curl -sS -m 5 https://b.example/; true")
    assert result.exit_code == 0 and result.output.count("CONNECT tunnel failed, response 403") == 2
    assert [(r.phase, r.host, r.kind, r.line) for r in fenced.refusals] == [
        ("agent", "a.example", "unlisted", "agent tried to reach a.example: add it to [network] allow in .codexbot.toml"),
        ("agent", "b.example", "unlisted", "agent tried to reach b.example: add it to [network] allow in .codexbot.toml")]


def test_a_wait_in_the_command_does_not_wait_for_the_forwarder(fenced):
    started = time.monotonic()
    result = fenced.run("sleep 0.2 & wait; echo waited", network=True, timeout=20)
    assert (result.exit_code, result.output, result.timed_out) == (0, "waited\n", False)
    assert time.monotonic() - started < 10


def test_a_phase_without_the_network_starts_no_proxy_and_closing_leaves_nothing(fenced, tmp_path):
    fenced.run("true", network=False)
    assert fenced.fence._proxy is None  # noqa: SLF001  (the state under test)
    fenced.run("true", network=True)
    socket_dir = fenced.fence._dir  # noqa: SLF001
    assert socket_dir is not None and (socket_dir / "proxy.sock").exists()
    fenced.close()
    assert not socket_dir.exists()
    # this fence's sandbox (its command line names the socket's folder) is gone, and with it the forwarder in
    # its PID namespace; other tests running at the same time have fences of their own
    assert processes_with(str(socket_dir)) == []


def test_the_socket_is_the_only_thing_from_the_host_in_the_sandbox(fenced):
    result = fenced.run(f"ls -A {INSIDE_DIR}; ls -A /run", network=True)
    assert result.output.split() == ["proxy.sock", "codexbot-egress"]
    assert os.stat(fenced.fence._dir).st_mode & 0o777 == 0o755  # noqa: SLF001


def test_a_loop_of_refused_connections_is_one_line_and_a_count(fenced):
    result = fenced.run("for i in $(seq 150); do curl -s -o /dev/null https://flood.example/; done; true",
                        network=True, timeout=120)
    assert result.exit_code == 0
    flood = [r for r in fenced.refusals if r.host == "flood.example"]
    assert [(r.line != "", r.count) for r in flood] == [(True, 150)]
    fenced.run("curl -s -o /dev/null https://flood.example/", network=True)
    again = [r for r in fenced.refusals if r.host == "flood.example"][1:]
    assert [(r.line, r.count) for r in again] == [("", 1)]  # counted, not logged twice


def test_what_the_sandbox_names_reaches_the_log_without_control_characters(fenced):
    fenced.run("printf 'CONNECT evil\\033[2J.example:443 HTTP/1.1\\r\\n\\r\\n' | "
               "socat - UNIX-CONNECT:/run/codexbot-egress/proxy.sock", network=True)
    [refusal] = fenced.refusals
    assert refusal.host == "evil?[2J.example" and "\x1b" not in refusal.line
