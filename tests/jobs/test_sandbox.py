"""The sandbox, with the real bwrap: isolation, limits, output handling, and tests running inside."""

from __future__ import annotations

import logging
import os
import random
import socket
import time
from pathlib import Path

import pytest

from jobs.sandbox import (ADDRESS_SPACE_LIMIT, CPU_SECONDS_LIMIT, FILE_SIZE_LIMIT, SandboxError, check_bwrap,
                          looks_secret, make_sandbox)


@pytest.fixture
def workspace(tmp_path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture
def sandbox(workspace):
    return make_sandbox("bwrap", workspace)


def processes_with(token: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # the process ended while we looked
        if token in cmdline:
            found.append(cmdline)
    return found


def wait_until_gone(token: str, seconds: float = 3.0) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := processes_with(token)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def test_command_output_and_exit_code_are_reported(sandbox):
    result = sandbox.run("echo to-stdout; echo to-stderr >&2; exit 3")
    assert result.exit_code == 3
    assert "to-stdout" in result.output and "to-stderr" in result.output
    assert not result.timed_out and not result.truncated
    assert result.duration > 0


def test_commands_run_in_workspace_as_unprivileged_user_and_host_can_read_what_they_write(sandbox, workspace):
    result = sandbox.run("pwd; id -u; id -g; whoami; echo made-inside > made.txt")
    assert result.output.split() == ["/workspace", "1000", "1000", "sandbox"]
    made = workspace / "made.txt"
    assert made.read_text() == "made-inside\n"
    assert made.stat().st_uid == os.getuid()


@pytest.mark.parametrize("kind", ["bwrap", "subprocess"])
def test_timeout_kills_the_whole_process_group(kind, workspace):
    token = str(random.randint(10**8, 10**9))
    result = make_sandbox(kind, workspace).run(f"sleep {token} & echo started; sleep {token}1", timeout=1)
    assert result.timed_out
    assert 1 <= result.duration < 5
    assert result.output.startswith("started")
    assert result.output.rstrip().endswith("command exceeded 1 s and was stopped")
    assert wait_until_gone(token) == []


def test_background_children_do_not_outlive_a_finished_command(sandbox):
    token = str(random.randint(10**8, 10**9))
    result = sandbox.run(f"sleep {token} & echo done")
    assert (result.exit_code, result.output, result.timed_out) == (0, "done\n", False)
    assert result.duration < 5
    assert wait_until_gone(token) == []


@pytest.fixture
def host_listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    yield server.getsockname()[1]
    server.close()


def connect_command(port: int) -> str:
    script = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3); print('connected')"
    return f'python3 -c "{script}"'


def test_network_is_off_by_default(sandbox, host_listener):
    result = sandbox.run(connect_command(host_listener))
    assert result.exit_code != 0
    assert "connected" not in result.output


def test_network_is_on_when_asked(sandbox, host_listener):
    result = sandbox.run(connect_command(host_listener), network=True)
    assert (result.exit_code, result.output.strip()) == (0, "connected")


def test_host_secrets_never_reach_the_environment_inside(workspace, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-secret")
    monkeypatch.setenv("CODEXBOT_SECRET_KEY", "host-signing-key")
    monkeypatch.setenv("SOME_HOST_SETTING", "host-value")
    given = {"GITHUB_TOKEN": "ghs_given", "NPM_TOKEN": "npm_given", "DB_PASSWORD": "pw", "FOO": "bar"}
    result = make_sandbox("bwrap", workspace).run("env", env=given)
    names = {line.split("=", 1)[0] for line in result.output.splitlines()}
    assert names >= {"PATH", "HOME", "LANG", "TERM", "PYTHONDONTWRITEBYTECODE", "CI", "FOO"}
    assert not names & {"OPENAI_API_KEY", "CODEXBOT_SECRET_KEY", "SOME_HOST_SETTING", "GITHUB_TOKEN",
                        "NPM_TOKEN", "DB_PASSWORD"}
    assert "HOME=/home/sandbox" in result.output and "FOO=bar" in result.output
    for secret in ("sk-host-secret", "host-signing-key", "ghs_given", "npm_given"):
        assert secret not in result.output


@pytest.mark.parametrize("key, secret", [
    ("OPENAI_BASE_URL", True), ("CODEXBOT_MODEL", True), ("GH_TOKEN", True), ("gitlab_token", True),
    ("AWS_SECRET_ACCESS_KEY", True), ("CLIENT_SECRET", True), ("PGPASSWORD", True),
    ("PYTHONPATH", False), ("NODE_ENV", False), ("TOKENIZERS_PARALLELISM", False)])
def test_secret_looking_names(key, secret):
    assert looks_secret(key) is secret


def test_files_outside_the_workspace_are_out_of_reach(sandbox, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("host-only-content")
    result = sandbox.run(f"cat {outside}; cat /etc/shadow; ls -A /root 2>/dev/null; ls /home")
    assert "host-only-content" not in result.output
    assert "root:" not in result.output
    listed = set(result.output.split()) - {"cat:", "No", "such", "file", "or", "directory", str(outside) + ":",
                                          "/etc/shadow:"}
    assert listed <= {".pyenv", "sandbox"}


def test_the_system_is_read_only(sandbox):
    result = sandbox.run("touch /usr/made-by-sandbox || echo refused")
    assert "refused" in result.output
    assert not Path("/usr/made-by-sandbox").exists()


def test_long_output_keeps_head_and_tail_with_a_marker(sandbox):
    result = sandbox.run("printf START; head -c 500000 /dev/zero | tr '\\0' a; printf END", output_limit=10_000)
    assert result.truncated and result.exit_code == 0
    assert result.output.startswith("START") and result.output.endswith("END")
    assert f"[… {500_000 + len('STARTEND') - 10_000} bytes cut …]" in result.output
    assert len(result.output) < 10_100


def test_python_tests_run_inside(sandbox, workspace):
    (workspace / "test_tiny.py").write_text("def test_adds():\n    assert 1 + 1 == 2\n")
    result = sandbox.run("python3 -m pytest -q -p no:cacheprovider test_tiny.py")
    assert result.exit_code == 0, result.output
    assert "1 passed" in result.output


def test_unknown_kind_names_the_choices(workspace):
    with pytest.raises(ValueError, match="'bwrap' or 'subprocess', not 'docker'"):
        make_sandbox("docker", workspace)


def test_subprocess_sandbox_warns_loudly(workspace, caplog, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-secret")
    with caplog.at_level(logging.WARNING, logger="codexbot.sandbox"):
        sandbox = make_sandbox("subprocess", workspace)
    assert "WITHOUT isolation" in caplog.text
    result = sandbox.run("pwd; env")
    assert result.output.splitlines()[0] == str(workspace.resolve())
    assert "sk-host-secret" not in result.output


def test_missing_bwrap_is_a_clear_error(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    check_bwrap.cache_clear()
    try:
        with pytest.raises(SandboxError, match="bubblewrap \\(bwrap\\) is not installed"):
            make_sandbox("bwrap", workspace)
    finally:
        check_bwrap.cache_clear()


def test_resource_limits_apply_inside(sandbox):
    result = sandbox.run("ulimit -f; ulimit -t; ulimit -v; ulimit -f 10; head -c 20000 /dev/zero > f; stat -c %s f")
    assert result.output.split()[:3] == [str(FILE_SIZE_LIMIT // 1024), str(CPU_SECONDS_LIMIT),
                                         str(ADDRESS_SPACE_LIMIT // 1024)]
    assert "File size limit exceeded" in result.output
    assert result.output.split()[-1] == "10240"
