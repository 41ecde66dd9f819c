"""`codexbot run`, `logs` and `apply` as a user runs them: a real process in a real checkout, the emulator as the model."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli.local import register
from tests import sample_repo
from tests.emulators.openai_api import OpenAIEmulator
from tests.jobs.local.test_run import API_KEY, git, make_checkout

ROOT = Path(__file__).resolve().parent.parent


def codexbot_argv() -> list[str]:
    return [sys.executable, "-m", "cli"]


def codexbot(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}", "PYTHONPATH": str(ROOT),
            "HOME": str(cwd.parent), "LANG": "C.UTF-8"}
    return subprocess.run([*codexbot_argv(), *args], cwd=cwd, env={**base, **(env or {})}, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)


@pytest.fixture
def checkout(tmp_path) -> Path:
    return make_checkout(tmp_path)


@pytest.fixture
def emulator():
    script = [{"tool_calls": [{"name": "shell", "arguments": {"command": "cat README.md notes.txt"}}]}]
    with OpenAIEmulator(script=script + sample_repo.fix_script(), api_key=API_KEY) as emu:
        yield emu


def model_env(emu: OpenAIEmulator) -> dict:
    return {"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": emu.url + "/v1", "CODEXBOT_MODEL_API": "chat"}


def test_run_then_logs_then_apply(checkout, emulator):
    before = git(checkout, "status", "--porcelain")
    done = codexbot(checkout, "run", "fix the failing test", "--no-apply", "--json", env=model_env(emulator))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "succeeded" and result["applied"] is False
    assert "-    return a - b\n+    return a + b" in result["diff"] and "README" not in result["diff"]
    assert "1 passed" in result["tests"]["output"] and result["tests"]["exit_code"] == 0
    assert result["tokens"] > 0 and result["stop_reason"] == "the agent called finish"
    assert f"codexbot apply {result['run_id']}" in done.stderr  # how to apply later
    # the user's uncommitted edit and untracked file were in the run's copy: the agent's first command saw them
    first_output = emulator.requests[1]["messages"][-1]["content"]
    assert "An uncommitted line." in first_output and "untracked notes" in first_output
    assert git(checkout, "status", "--porcelain") == before  # the working tree is untouched
    assert (checkout / "calc.py").read_text() == sample_repo.FILES["calc.py"]
    folder = checkout / ".codexbot" / "runs" / result["run_id"]
    assert {"meta.json", "log.txt", "transcript.json", "diff.patch"} <= {p.name for p in folder.iterdir()}
    assert API_KEY not in (folder / "transcript.json").read_text()

    logs = codexbot(checkout, "logs", result["run_id"])
    assert logs.returncode == 0 and "tests passed: 1 passed" in logs.stdout and "$ cat README.md" in logs.stdout
    assert codexbot(checkout, "logs", "-f", "last").stdout == logs.stdout

    applied = codexbot(checkout, "apply", result["run_id"])
    assert applied.returncode == 0, applied.stderr
    assert (checkout / "calc.py").read_text() == sample_repo.FIXED_CALC
    assert (checkout / "README.md").read_text() == "# calc\n\nAn uncommitted line.\n"
    assert json.loads((folder / "meta.json").read_text())["applied"] is True


def test_without_a_model_key_says_so_in_one_sentence(checkout):
    done = codexbot(checkout, "run", "fix the failing test")
    assert done.returncode in (1, 2)
    assert done.stderr.strip() == "Error: set OPENAI_API_KEY, or OPENAI_BASE_URL for a local model server"
    assert not (checkout / ".codexbot").exists()


def test_outside_a_checkout_says_so_in_one_sentence(tmp_path):
    (tmp_path / "plain").mkdir()
    for args in (["run", "fix it"], ["apply", "last"], ["logs", "last"]):
        done = codexbot(tmp_path / "plain", *args, env={"OPENAI_API_KEY": API_KEY})
        assert done.returncode == 1
        assert done.stderr.strip().endswith("is not inside a git checkout: run codexbot inside the repository "
                                            "you want to change"), done.stderr
        assert "Traceback" not in done.stderr


def test_apply_flag_applies_and_runs_dir_moves_the_record(checkout, emulator, tmp_path, monkeypatch):
    group = click.Group("codexbot")
    register(group)
    monkeypatch.chdir(checkout)
    for name, value in model_env(emulator).items():
        monkeypatch.setenv(name, value)
    runs = tmp_path / "elsewhere"
    done = CliRunner().invoke(group, ["run", "fix the failing test", "--apply", "--runs-dir", str(runs)])
    assert done.exit_code == 0, done.output
    assert "+    return a + b" in done.output and "tests passed: 1 passed" in done.output
    assert (checkout / "calc.py").read_text() == sample_repo.FIXED_CALC
    (record,) = [path for path in runs.iterdir() if path.is_dir()]
    assert json.loads((record / "meta.json").read_text())["applied"] is True
    assert not (checkout / ".codexbot").exists()


@pytest.fixture
def host_service():
    """A service on this machine's loopback, as a developer's laptop has (a database, a model server)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_local_runs_setup_is_fenced_unless_the_user_gives_that_up(checkout, emulator, host_service):
    (checkout / ".codexbot.toml").write_text(
        f'[setup]\ncommands = ["curl -sf -m 5 -o /dev/null http://localhost:{host_service}/"]\n')
    fenced = codexbot(checkout, "run", "fix the failing test", "--no-apply", "--json", env=model_env(emulator))
    assert fenced.returncode == 1 and json.loads(fenced.stdout)["status"] == "failed"
    assert ("setup tried to reach localhost, refused: localhost is this machine's loopback, which the sandbox may "
            "never reach; no setting allows that") in fenced.stderr
    assert "the setup command `curl" in json.loads(fenced.stdout)["error"]

    unfenced = codexbot(checkout, "run", "fix the failing test", "--no-apply", "--json", "--unfenced-network",
                        env=model_env(emulator))
    assert unfenced.returncode == 0, unfenced.stderr
    assert "WARNING: --unfenced-network: setup" in unfenced.stderr
