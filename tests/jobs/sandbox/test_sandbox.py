"""The sandbox, with the real bwrap: the interface, limits and budgets, phases, cancel, and workspace ownership."""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from functools import lru_cache
from pathlib import Path

import pytest

from jobs.sandbox import BudgetExhausted, RunBudget, SandboxCancelled, SandboxError, SandboxLimits, check_bwrap, looks_secret
from jobs.run.wiring import make_sandbox
from jobs.sandbox.limits import explain_exit


@lru_cache(maxsize=None)
def bwrap_problem() -> str:
    """Why bubblewrap cannot work on this machine (no user namespaces, no bwrap), or "" when it can."""
    try:
        check_bwrap()
    except SandboxError as error:
        return str(error)
    return ""


needs_bwrap = pytest.mark.skipif(bool(bwrap_problem()), reason=f"bubblewrap cannot work here: {bwrap_problem()}")


@pytest.fixture
def workspace(tmp_path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture
def sandbox(workspace):
    return make_sandbox("bwrap", workspace)


def token() -> str:
    return str(random.randint(10**8, 10**9))


def processes_with(text: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # the process ended while we looked
        if text in cmdline:
            found.append(cmdline)
    return found


def wait_until_gone(text: str, seconds: float = 3.0) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := processes_with(text)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


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


@needs_bwrap
def test_command_output_and_exit_code_are_reported(sandbox):
    result = sandbox.run("echo to-stdout; echo to-stderr >&2; exit 3")
    assert result.exit_code == 3
    assert "to-stdout" in result.output and "to-stderr" in result.output
    assert not result.timed_out and not result.truncated and result.limit == "" and result.notice == ""
    assert result.duration > 0


@needs_bwrap
def test_commands_run_in_workspace_as_sandbox_user_and_host_can_read_what_they_write(sandbox, workspace):
    result = sandbox.run("pwd; id -u; id -g; whoami; echo made-inside > made.txt")
    assert result.output.split() == ["/workspace", "1000", "1000", "sandbox"]
    made = workspace / "made.txt"
    assert made.read_text() == "made-inside\n"
    assert made.stat().st_uid == sandbox.host_uid


@needs_bwrap
def test_files_the_worker_writes_between_commands_stay_writable_inside(sandbox, workspace):
    sandbox.run("mkdir -p src && echo one > src/a.txt")
    (workspace / "src" / "b.txt").write_text("from the worker\n")  # like the agent's write_file tool
    (workspace / "new" / "deep").mkdir(parents=True)
    (workspace / "new" / "deep" / "c.txt").write_text("c\n")
    result = sandbox.run("echo more >> src/b.txt && echo more >> new/deep/c.txt && touch new/deep/d && cat src/b.txt")
    assert (result.exit_code, result.output) == (0, "from the worker\nmore\n")
    assert {p.stat().st_uid for p in workspace.rglob("*")} == {sandbox.host_uid}


@needs_bwrap
@pytest.mark.skipif(os.geteuid() != 0, reason="only a root worker hands the workspace to another uid")
def test_handing_over_the_workspace_never_follows_links_or_hard_links(sandbox, workspace, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "host.txt").write_text("host")
    (workspace / "linked-dir").symlink_to(outside)
    os.link(outside / "host.txt", workspace / "hard.txt")
    sandbox.run("mkdir swapped && touch swapped/x")
    sandbox.run(f"rm -r swapped && ln -s {outside} swapped")  # a directory the owner knows becomes a link
    (outside / "new.txt").write_text("host")
    sandbox.run("true")
    assert {p.stat().st_uid for p in [outside, *outside.iterdir()]} == {0}
    assert (workspace / "linked-dir").lstat().st_uid == sandbox.host_uid
    assert (workspace / "hard.txt").stat().st_uid == 0


@needs_bwrap
@pytest.mark.skipif(os.geteuid() != 0, reason="only a root worker can choose the sandbox's host uid")
def test_the_host_uid_is_configurable(workspace):
    sandbox = make_sandbox("bwrap", workspace, host_uid=43210)
    sandbox.run("touch made")
    assert (workspace / "made").stat().st_uid == 43210 and (workspace / "made").stat().st_gid == 43210


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a root worker")
def test_the_host_uid_must_not_be_root(workspace):
    with pytest.raises(ValueError, match="must not be 0"):
        make_sandbox("bwrap", workspace, host_uid=0)


@needs_bwrap
@pytest.mark.parametrize("kind", ["bwrap", "subprocess"])
def test_timeout_kills_the_whole_process_group(kind, workspace):
    mark = token()
    result = make_sandbox(kind, workspace).run(f"sleep {mark} & echo started; sleep {mark}1", timeout=1)
    assert result.timed_out and result.limit == "command_seconds"
    assert 1 <= result.duration < 5
    assert result.output.startswith("started")
    assert result.output.rstrip().endswith("command exceeded 1 s and was stopped")
    assert wait_until_gone(mark) == []


@needs_bwrap
def test_a_timeout_longer_than_the_limit_is_cut_to_the_limit(workspace):
    sandbox = make_sandbox("bwrap", workspace, limits=SandboxLimits(command_seconds=1))
    result = sandbox.run("sleep 30", timeout=600)
    assert result.timed_out and result.duration < 5 and "command exceeded 1 s" in result.notice


@needs_bwrap
def test_background_children_do_not_outlive_a_finished_command(sandbox):
    mark = token()
    result = sandbox.run(f"sleep {mark} & echo done")
    assert (result.exit_code, result.output, result.timed_out) == (0, "done\n", False)
    assert result.duration < 5
    assert wait_until_gone(mark) == []


@needs_bwrap
def test_network_is_off_by_default(sandbox, host_listener):
    result = sandbox.run(connect_command(host_listener))
    assert result.exit_code != 0
    assert "connected" not in result.output


@needs_bwrap
def test_network_on_without_a_fence_is_the_hosts_network(workspace, host_listener):
    """What `codexbot run --unfenced-network` gives: the reach the fence exists to take away."""
    result = make_sandbox("bwrap", workspace, fence=None).run(connect_command(host_listener), network=True)
    assert (result.exit_code, result.output.strip()) == (0, "connected")


@needs_bwrap
def test_network_on_behind_the_fence_never_reaches_the_hosts_loopback(sandbox, host_listener):
    result = sandbox.run(connect_command(host_listener), network=True)
    assert result.exit_code != 0 and "connected" not in result.output


@needs_bwrap
@pytest.mark.parametrize("phase, network, connects", [
    ("setup", None, True), ("agent", None, False), ("agent", True, True), ("setup", False, False)])
def test_each_phase_has_its_network_default(workspace, host_listener, phase, network, connects):
    sandbox = make_sandbox("bwrap", workspace, fence=None)
    sandbox.start_phase(phase, network=network)
    result = sandbox.run(connect_command(host_listener))
    assert ("connected" in result.output) is connects


def test_an_unknown_phase_is_refused(workspace):
    with pytest.raises(ValueError, match="setup, agent, not 'build'"):
        make_sandbox("subprocess", workspace).start_phase("build")


@needs_bwrap
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


@needs_bwrap
def test_environment_values_arrive_exactly_and_odd_names_are_left_out(sandbox):
    value = "a b 'c' \"d\" $HOME `id` \\ ;|&\nsecond line"
    result = sandbox.run('printf %s "$ODD_VALUE"; env | grep -c BAD || true', env={"ODD_VALUE": value, "BAD-NAME": "x"})
    assert result.output == value + "0\n"


@pytest.mark.parametrize("key, secret", [
    ("OPENAI_BASE_URL", True), ("CODEXBOT_MODEL", True), ("GH_TOKEN", True), ("gitlab_token", True),
    ("AWS_SECRET_ACCESS_KEY", True), ("CLIENT_SECRET", True), ("PGPASSWORD", True),
    ("PYTHONPATH", False), ("NODE_ENV", False), ("TOKENIZERS_PARALLELISM", False)])
def test_secret_looking_names(key, secret):
    assert looks_secret(key) is secret


@needs_bwrap
def test_home_lasts_the_run_and_tmp_lasts_one_command(sandbox, workspace):
    sandbox.run("echo kept > ~/installed; echo gone > /tmp/scratch")
    assert sandbox.run("cat ~/installed; cat /tmp/scratch").output.startswith("kept\ncat: /tmp/scratch: No such")
    assert "kept" not in make_sandbox("bwrap", workspace).run("cat ~/installed").output  # each run its own
    home = sandbox.home.path
    sandbox.close()
    assert not home.exists()


@needs_bwrap
def test_the_system_is_read_only(sandbox):
    result = sandbox.run("touch /usr/made-by-sandbox || echo refused")
    assert "refused" in result.output
    assert not Path("/usr/made-by-sandbox").exists()


@needs_bwrap
def test_long_output_keeps_head_and_tail_with_a_marker(sandbox):
    result = sandbox.run("printf START; head -c 500000 /dev/zero | tr '\\0' a; printf END", output_limit=10_000)
    assert result.truncated and result.exit_code == 0
    assert result.output.startswith("START") and result.output.endswith("END")
    assert f"[… {500_000 + len('STARTEND') - 10_000} bytes cut …]" in result.output
    assert len(result.output) < 10_100


@needs_bwrap
def test_python_tests_run_inside(sandbox, workspace):
    (workspace / "test_tiny.py").write_text("def test_adds():\n    assert 1 + 1 == 2\n")
    result = sandbox.run("python3 -m pytest -q -p no:cacheprovider test_tiny.py")
    assert result.exit_code == 0, result.output
    assert "1 passed" in result.output


@needs_bwrap
def test_a_missing_workspace_is_a_clear_error(tmp_path):
    with pytest.raises(SandboxError, match="gone"):
        make_sandbox("bwrap", tmp_path / "gone").run("true")


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


@needs_bwrap
def test_per_process_limits_are_set_inside(workspace):
    limits = SandboxLimits(cpu_seconds=77, processes=99, file_size_mb=3, data_mb=4096)
    result = make_sandbox("bwrap", workspace, limits=limits).run(
        "ulimit -St; ulimit -Ht; ulimit -u; ulimit -f; ulimit -d; ulimit -c; ulimit -v")
    assert result.output.split() == ["77", "82", "99", str(3 * 1024), str(4096 * 1024), "0", "unlimited"]


@needs_bwrap
def test_file_size_limit_is_reported(workspace):
    sandbox = make_sandbox("bwrap", workspace, limits=SandboxLimits(file_size_mb=1))
    result = sandbox.run("head -c 5000000 /dev/zero > big")
    assert result.limit == "file_size_mb" and result.exit_code != 0
    assert result.output.endswith("file size limit reached: a file may grow to at most 1 MB")
    assert (workspace / "big").stat().st_size == 1 << 20


@needs_bwrap
def test_cpu_time_limit_is_reported(workspace):
    sandbox = make_sandbox("bwrap", workspace, limits=SandboxLimits(cpu_seconds=1))
    result = sandbox.run("python3 -c 'while True: pass'", timeout=20)
    assert result.limit == "cpu_seconds" and result.duration < 10
    assert "CPU time limit reached: a process may use at most 1 s of CPU" in result.notice


@needs_bwrap
def test_a_command_over_the_memory_limit_is_killed_and_told(workspace):
    sandbox = make_sandbox("bwrap", workspace, limits=SandboxLimits(memory_mb=64))
    script = "import time; hold = bytearray(300 << 20); print('allocated', flush=True); time.sleep(30)"
    result = sandbox.run(f'python3 -c "{script}"', timeout=20)
    assert result.limit == "memory_mb" and result.duration < 10
    assert result.output.endswith("the command was killed: it used more than 64 MB of memory")


@needs_bwrap
def test_running_out_of_allocatable_memory_is_told(workspace):
    sandbox = make_sandbox("bwrap", workspace, limits=SandboxLimits(data_mb=256))
    result = sandbox.run("python3 -c 'bytearray(1 << 30)'")
    assert result.limit == "data_mb" and "MemoryError" in result.output
    assert ("a process could not allocate memory: each may allocate at most 256 MB (RLIMIT_DATA), and all of a "
            "command's processes together may use 2048 MB") in result.notice


@needs_bwrap
def test_webassembly_and_its_reserved_address_space_work_in_the_sandbox(workspace):
    """V8 reserves ~10 GB of address space per Wasm memory (guard regions) and writes little of it; a limit on
    address space (RLIMIT_AS) made every Wasm module, and Node's fetch(), fail here."""
    script = ("const m = new WebAssembly.Memory({initial: 1}); "
              "WebAssembly.instantiate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]))"
              ".then(() => console.log('wasm ok', m.buffer.byteLength, typeof fetch))")
    result = make_sandbox("bwrap", workspace).run(f'node -e "{script}"')
    assert (result.exit_code, result.output, result.limit) == (0, "wasm ok 65536 function\n", "")


@needs_bwrap
def test_a_command_that_writes_too_much_is_stopped(workspace):
    sandbox = make_sandbox("bwrap", workspace, limits=SandboxLimits(max_output_bytes=1 << 20))
    result = sandbox.run("yes", timeout=20)
    assert result.limit == "max_output_bytes" and result.duration < 10 and result.truncated
    assert result.output.endswith("the command was stopped: it wrote more than 1 MB of output")


@needs_bwrap
def test_the_run_budget_spans_commands_and_ends_the_run(workspace):
    sandbox = make_sandbox("bwrap", workspace, budget=RunBudget(seconds=2.5, output_bytes=1 << 30))
    assert sandbox.run("sleep 1").exit_code == 0
    cut = sandbox.run("sleep 10")
    assert cut.limit == "run_seconds" and cut.timed_out and cut.duration < 3
    assert "the run's command time ran out (2.5 s for all commands together)" in cut.notice
    with pytest.raises(BudgetExhausted, match="used up its 2.5 s of command time"):
        sandbox.run("true")


@needs_bwrap
def test_the_run_output_budget_is_shared_by_the_sandboxes_of_a_run(workspace):
    budget = RunBudget(seconds=600, output_bytes=300_000)
    first, second = make_sandbox("bwrap", workspace, budget=budget), make_sandbox("bwrap", workspace, budget=budget)
    assert first.run("head -c 200000 /dev/zero").exit_code == 0
    cut = second.run("yes", timeout=20)
    assert cut.limit == "run_output_bytes" and "the run's commands wrote more than" in cut.notice
    with pytest.raises(BudgetExhausted, match="all the run allows"):
        first.run("true")


@needs_bwrap
@pytest.mark.parametrize("kind", ["bwrap", "subprocess"])
def test_cancel_from_another_thread_stops_the_running_command(kind, workspace):
    sandbox, mark = make_sandbox(kind, workspace), token()
    threading.Timer(0.5, sandbox.cancel).start()
    started = time.monotonic()
    with pytest.raises(SandboxCancelled, match="the run was cancelled"):
        sandbox.run(f"sleep {mark} & sleep {mark}1")
    assert time.monotonic() - started < 3
    assert wait_until_gone(mark) == []
    with pytest.raises(SandboxCancelled, match="no further command was run"):
        sandbox.run("true")


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="SandboxLimits.memory_mb must be positive, not 0"):
        SandboxLimits(memory_mb=0)


@pytest.mark.parametrize("code, output, limit", [
    (153, "", "file_size_mb"), (1, "bash: line 1: 12 File size limit exceeded (core dumped) head", "file_size_mb"),
    (152, "", "cpu_seconds"), (1, "bash: fork: retry: Resource temporarily unavailable", "processes"),
    (1, "RuntimeError: can't start new thread", "processes"), (1, "MemoryError", "data_mb"),
    (0, "no MemoryError here, the program handled it", ""), (1, "ordinary failure", "")])
def test_limits_are_recognised_from_exit_status_and_output(code, output, limit):
    assert explain_exit(code, output, SandboxLimits())[0] == limit


@needs_bwrap
def test_the_sandbox_sees_the_systems_python_never_the_workers(workspace):
    """A setup that forgot to install a package must fail here as it would on the Docker image: the worker's
    own interpreter and its site-packages (flask, rq, openai, pytest…) are not in the sandbox."""
    sandbox = make_sandbox("bwrap", workspace)
    result = sandbox.run("python3 -c 'import sys; print(sys.prefix)'; python3 -c 'import flask' 2>&1 | tail -1; "
                         "python3 -c 'import rq' 2>&1 | tail -1")
    assert result.output.split("\n")[:3] == ["/usr", "ModuleNotFoundError: No module named 'flask'",
                                             "ModuleNotFoundError: No module named 'rq'"]


@needs_bwrap
def test_a_virtualenv_made_in_setup_is_what_later_commands_use(workspace):
    sandbox = make_sandbox("bwrap", workspace)
    assert sandbox.run("python3 -m venv .venv", network=False).exit_code == 0
    result = sandbox.run("command -v python3; python3 -c 'import sys; print(sys.prefix)'")
    assert result.output.split() == ["/workspace/.venv/bin/python3", "/workspace/.venv"]
