"""Escape attempts against the bubblewrap sandbox: each one must fail, and the test says what it tried.

Everything stays on this machine: the only network target is a listener the test opens on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from jobs.sandbox import SandboxLimits
from jobs.run.wiring import make_sandbox
from tests.jobs.sandbox.test_sandbox import (bwrap_problem, connect_command, host_listener, token, wait_until_gone,  # noqa: F401
                                     workspace)

pytestmark = pytest.mark.skipif(bool(bwrap_problem()), reason=f"bubblewrap cannot work here: {bwrap_problem()}")

CANARY = "canary-7f3a9c1e"


@pytest.fixture
def sandbox(workspace):
    return make_sandbox("bwrap", workspace)


@pytest.fixture
def worker_home(tmp_path, monkeypatch) -> Path:
    """A home like the worker's, with a credential file holding the canary, and HOME pointing at it."""
    home = tmp_path / "worker-home"
    (home / ".config" / "codexbot").mkdir(parents=True)
    (home / ".config" / "codexbot" / "token").write_text(CANARY)
    (home / ".git-credentials").write_text(f"https://x:{CANARY}@forge.invalid\n")
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def worker_like_process():
    """A host process started with secrets in its environment, as the worker is."""
    secrets = {"OPENAI_API_KEY": f"sk-{CANARY}", "CODEXBOT_GITHUB_WEBHOOK_SECRET": CANARY, "GITHUB_TOKEN": CANARY}
    process = subprocess.Popen(["sleep", "60"], env={"PATH": "/usr/bin:/bin", **secrets})
    yield process.pid
    process.kill()
    process.wait()


def test_the_workers_environment_is_not_readable(sandbox, monkeypatch, worker_like_process):
    monkeypatch.setenv("OPENAI_API_KEY", f"sk-{CANARY}")
    monkeypatch.setenv("CODEXBOT_GITHUB_WEBHOOK_SECRET", CANARY)
    result = sandbox.run(f"env; cat /proc/1/environ /proc/self/environ; grep -a {CANARY} /proc/*/environ; "
                         f"cat /proc/{worker_like_process}/environ /proc/{os.getpid()}/environ")
    assert CANARY not in result.output


def test_host_processes_are_invisible(sandbox):
    result = sandbox.run(f"ls /proc | grep -c '^[0-9]'; kill -0 {os.getpid()} && echo SIGNALLED-THE-WORKER")
    assert int(result.output.split()[0]) < 10  # only the sandbox's own few processes
    assert "SIGNALLED-THE-WORKER" not in result.output


def test_a_credential_file_in_the_workers_home_is_out_of_reach(sandbox, worker_home):
    result = sandbox.run(f"cat {worker_home}/.config/codexbot/token {worker_home}/.git-credentials; "
                         f"ls -A {worker_home}; cat ~/.git-credentials; grep -rs {CANARY} /home /tmp /workspace /etc")
    assert CANARY not in result.output


def test_root_home_is_not_readable(sandbox):
    host_entries = set(os.listdir("/root")) if os.access("/root", os.R_OK) else set()
    result = sandbox.run("ls -A /root; cat /root/.bashrc /root/.profile /root/.ssh/* /root/.git-credentials")
    # nothing of the worker's home is there, not even its own Python (pyenv lives under /root here)
    assert "ls: cannot access '/root': No such file or directory" in result.output
    assert not any(entry in result.output.split() for entry in host_entries)
    for name in (".bashrc", ".profile"):
        if (Path("/root") / name).exists():
            assert (Path("/root") / name).read_text()[:40] not in result.output


def test_nothing_outside_the_workspace_can_be_written(sandbox, tmp_path):
    target = tmp_path / "written-from-inside"
    attempts = [f"echo x > {target}", "echo x > /usr/escape", "echo x > /etc/escape", "echo x > /escape",
                "echo x > /root/escape", "echo x > /workspace/../escape", "echo 1 > /proc/sys/kernel/hostname",
                "mkdir /usr/local/escape", "touch /etc/passwd"]
    result = sandbox.run("; ".join(f"{a} 2>/dev/null && echo WROTE-{n}" for n, a in enumerate(attempts))
                         + "; echo private > /tmp/escape; echo ok")
    assert "WROTE" not in result.output and result.output.endswith("ok\n")
    for path in (target, Path("/usr/escape"), Path("/etc/escape"), Path("/escape"), Path("/root/escape"),
                 Path("/usr/local/escape"), Path("/tmp/escape")):
        assert not path.exists(), path


def test_a_listener_on_the_host_loopback_cannot_be_reached(sandbox, host_listener):
    result = sandbox.run(connect_command(host_listener) + f"; (echo hi > /dev/tcp/127.0.0.1/{host_listener}) "
                         "2>/dev/null && echo BASH-CONNECTED")
    assert "connected" not in result.output.lower()


@pytest.mark.parametrize("network", [False, True], ids=["network-off", "network-on-fenced"])
def test_redis_of_the_worker_cannot_be_reached(sandbox, redis_server, network):
    port = redis_server.url.rsplit(":", 1)[1].split("/")[0]
    result = sandbox.run(f"(printf 'PING\\r\\n' > /dev/tcp/127.0.0.1/{port}) 2>/dev/null && echo REACHED-REDIS",
                         network=network)
    assert "REACHED-REDIS" not in result.output


@pytest.mark.parametrize("network", [False, True], ids=["network-off", "network-on-fenced"])
def test_the_only_network_interface_is_an_isolated_loopback(sandbox, network):
    result = sandbox.run("ip -o link 2>/dev/null; echo ---; tail -n +3 /proc/net/dev | cut -d: -f1; echo ---; "
                         "ls /sys/class/net 2>/dev/null; ip -4 -o addr 2>/dev/null", network=network)
    links, devices, rest = result.output.split("---\n")
    assert [line.split(":")[1].strip() for line in links.splitlines()] in (["lo"], [])  # [] where ip is missing
    assert devices.split() == ["lo"]
    assert "eth" not in rest and "docker" not in rest
    host_interfaces = set(os.listdir("/sys/class/net")) - {"lo"}
    for name in host_interfaces:
        assert name not in result.output


def test_a_fork_bomb_hits_the_process_limit_and_leaves_nothing_behind(workspace):
    mark = token()
    sandbox = make_sandbox("bwrap", workspace, limits=SandboxLimits(processes=64))
    started = time.monotonic()
    result = sandbox.run(f"bomb{mark}() {{ bomb{mark} | bomb{mark} & }}; bomb{mark}; sleep 30", timeout=4)
    assert time.monotonic() - started < 10
    assert "process limit reached: at most 64 processes" in result.notice
    assert wait_until_gone(f"bomb{mark}") == []


def test_filling_the_disk_stops_at_the_file_size_limit(workspace):
    sandbox = make_sandbox("bwrap", workspace, limits=SandboxLimits(file_size_mb=2, tmp_mb=4))
    result = sandbox.run("head -c 100000000 /dev/zero > big; ls -l big; "
                         "for i in 1 2 3; do head -c 2000000 /dev/zero > /tmp/f$i || echo TMP-FULL; done")
    assert "file size limit reached: a file may grow to at most 2 MB" in result.notice
    assert (workspace / "big").stat().st_size == 2 << 20
    assert "TMP-FULL" in result.output  # /tmp lives in memory, so it is capped too


def test_a_background_process_does_not_survive_the_command(sandbox, workspace):
    mark = token()
    result = sandbox.run(f"nohup setsid bash -c 'echo $$ > pidfile; exec -a escape{mark} sleep 1000' "
                         ">/dev/null 2>&1 & disown -a; "
                         f"(bash -c 'exec -a escape{mark}-double-fork sleep 1000' </dev/null >/dev/null 2>&1 &); "
                         "until [ -s pidfile ]; do sleep 0.05; done; echo started")
    assert result.output == "started\n" and result.duration < 5
    assert (workspace / "pidfile").read_text().strip().isdigit()  # it did start, with a pid of the sandbox's own
    assert wait_until_gone(f"escape{mark}") == []  # and neither it nor the double fork is anywhere on the host


def test_a_symlink_in_the_repository_does_not_lead_to_host_files(sandbox, workspace, worker_home, tmp_path):
    (tmp_path / "beside.txt").write_text(CANARY)
    (workspace / "to-canary").symlink_to(worker_home / ".config" / "codexbot" / "token")
    (workspace / "to-beside").symlink_to("../beside.txt")
    (workspace / "to-home").symlink_to(worker_home)
    (workspace / "to-shadow").symlink_to("/etc/shadow")
    result = sandbox.run("cat to-canary to-beside to-shadow; ls -A to-home/; cat to-home/.git-credentials")
    assert CANARY not in result.output and "root:" not in result.output
    assert result.exit_code != 0


def test_commands_never_run_as_host_root(sandbox, workspace):
    mark = token()
    seen: dict[str, str] = {}

    def look_from_the_host():
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(f"sleep 3{mark}\0".encode()):
                        seen.update(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                                    if line.startswith(("Uid", "Gid", "CapEff", "NoNewPrivs")))
                except OSError:
                    continue
            time.sleep(0.02)

    looker = threading.Thread(target=look_from_the_host)
    looker.start()
    result = sandbox.run(f"touch made; bash -c 'exec -a \"sleep 3{mark}\" sleep 2'; unshare -r id -u; "
                         "sudo -n id -u; su -c 'id -u' root </dev/null")
    looker.join()
    assert (workspace / "made").stat().st_uid == sandbox.host_uid != 0
    assert set(seen["Uid"].split()) == {str(sandbox.host_uid)}
    assert int(seen["CapEff"].strip(), 16) == 0 and seen["NoNewPrivs"].strip() == "1"
    assert "\n0\n" not in f"\n{result.output}"  # no way back to uid 0 inside either


def test_no_descriptor_of_the_workers_reaches_a_command(sandbox):
    """Under a root worker the sandbox enters a user namespace the worker holds open: that descriptor (or any
    other of the worker's) must not be inherited by the command, which could use it to enter the namespace."""
    result = sandbox.run("ls -l /proc/self/fd/ | tail -n +2")
    held = [line for line in result.output.splitlines()
            if line.split(" -> ")[0].split()[-1] not in ("0", "1", "2") and "/proc/" not in line]  # ls's own
    assert held == [], result.output
