"""Local mode's parts against real git, real bwrap and the OpenAI emulator: the copy, the run record, apply."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from jobs.local.checkout import CheckoutError, apply_patch, find_checkout, make_snapshot
from jobs.local.records import RecordError, RunRecord, find_run, follow_log
from jobs.local.run import MISSING_MODEL, LocalRun, LocalRunError, check_model_settings
from jobs.access.redaction import Redactor
from jobs.settings import Settings
from tests import sample_repo
from tests.emulators.openai_api import OpenAIEmulator

API_KEY = "sk-local-test-key-0123456789abcdef"


def git(cwd, *args) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c",
                           "init.defaultBranch=main", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


def make_checkout(root: Path) -> Path:
    """The sample repository, committed, plus an uncommitted edit, an untracked file and an ignored one."""
    repo = root / "checkout"
    for name, text in {**sample_repo.FILES, ".gitignore": "*.log\n"}.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    (repo / "README.md").write_text("# calc\n\nAn uncommitted line.\n")
    (repo / "notes.txt").write_text("untracked notes\n")
    (repo / "debug.log").write_text("ignored\n")
    return repo


@pytest.fixture
def checkout(tmp_path) -> Path:
    return make_checkout(tmp_path)


def test_snapshot_holds_head_uncommitted_and_untracked_files_and_leaves_the_checkout_alone(checkout, tmp_path):
    before = git(checkout, "status", "--porcelain", "--ignored")
    snap = make_snapshot(checkout, tmp_path / "copy" / "repo")
    assert (snap.path / "README.md").read_text() == "# calc\n\nAn uncommitted line.\n"
    assert (snap.path / "notes.txt").read_text() == "untracked notes\n"
    assert not (snap.path / "debug.log").exists()
    assert sorted(snap.carried) == ["README.md", "notes.txt"]
    assert snap.head == git(checkout, "rev-parse", "HEAD").strip() and snap.base != snap.head
    assert git(snap.path, "status", "--porcelain") == ""  # the agent's diff starts from the user's state
    assert git(checkout, "status", "--porcelain", "--ignored") == before


def test_outside_a_checkout_is_one_sentence(tmp_path):
    with pytest.raises(CheckoutError, match="is not inside a git checkout"):
        find_checkout(tmp_path)


def test_a_repository_without_commits_is_one_sentence(tmp_path):
    git(tmp_path, "init", "-q")
    with pytest.raises(CheckoutError, match="has no commit yet"):
        make_snapshot(tmp_path, tmp_path / "copy")


def test_missing_model_settings_is_one_sentence():
    with pytest.raises(LocalRunError, match=MISSING_MODEL):
        check_model_settings(Settings())
    assert check_model_settings(Settings(openai_base_url="http://127.0.0.1:1/v1")) == "local"


def run_locally(checkout: Path, script: list, **options):
    with OpenAIEmulator(script=script, api_key=API_KEY) as emu:
        settings = Settings(openai_api_key=API_KEY, openai_base_url=emu.url + "/v1", model_api="chat",
                            model="gpt-4.1-mini")
        record = RunRecord.create(checkout / ".codexbot" / "runs", Redactor())
        lines = []
        result = LocalRun(settings, checkout, record, show=lambda line, state: lines.append(line), **options)\
            .run("fix the failing test")
    return result, record, lines, emu


def test_a_local_run_records_its_files_and_keeps_the_key_out(checkout):
    leak = {"tool_calls": [{"name": "shell", "arguments": {"command": f"echo {API_KEY}"}}]}
    result, record, lines, _ = run_locally(checkout, [leak] + sample_repo.fix_script())
    assert result.status == "succeeded" and "+    return a + b" in result.diff
    assert result.tests.passed == 1
    assert {p.name for p in record.folder.iterdir()} >= {"meta.json", "log.txt", "transcript.json", "diff.patch"}
    meta = record.meta()
    assert meta["status"] == "succeeded" and meta["base_commit"] == git(checkout, "rev-parse", "HEAD").strip()
    assert meta["usage"]["steps"] == 6 and meta["tests"]["passed"] == 1 and meta["finished_at"]
    transcript = (record.folder / "transcript.json").read_text()
    assert API_KEY not in transcript and "[REDACTED]" in transcript
    assert any("$ python3 -m pytest" in line for line in lines if line)
    assert any(line and line.startswith("step 2:") and "tokens" in line for line in lines)
    assert "".join(follow_log(record)) == record.log_path.read_text()  # a finished run: follow returns


def test_apply_merges_three_ways_when_the_user_edited_the_file_meanwhile(checkout):
    result, record, _, _ = run_locally(checkout, sample_repo.fix_script())
    calc = checkout / "calc.py"
    calc.write_text("import math\n\n" + calc.read_text())  # plain `git apply` refuses: the hunk moved from line 1
    git(checkout, "add", "README.md")
    staged = git(checkout, "diff", "--cached", "--name-only")
    message = apply_patch(checkout, record.patch_path, record.preimages_path)
    assert "three-way" in message
    assert calc.read_text() == "import math\n\n" + sample_repo.FIXED_CALC
    assert git(checkout, "diff", "--cached", "--name-only") == staged  # the user's index is left alone


def test_apply_reports_a_conflict_in_one_sentence(checkout):
    _, record, _, _ = run_locally(checkout, sample_repo.fix_script())
    (checkout / "calc.py").write_text(sample_repo.FILES["calc.py"].replace("a - b", "a * b"))
    with pytest.raises(CheckoutError, match="conflicts with your edits in calc.py"):
        apply_patch(checkout, record.patch_path, record.preimages_path)
    assert "<<<<<<<" in (checkout / "calc.py").read_text()


def test_a_run_without_a_change_fails_with_the_agents_summary(checkout):
    script = [{"tool_calls": [{"name": "finish", "arguments": {"summary": "nothing to do"}}]}]
    result, record, _, _ = run_locally(checkout, script)
    assert result.status == "failed" and result.error.endswith("without changing any file: nothing to do")
    assert record.meta()["status"] == "failed"


def test_runs_are_found_by_id_prefix_or_last(tmp_path):
    runs = tmp_path / "runs"
    first, second = (RunRecord.create(runs, Redactor()) for _ in range(2))
    assert find_run(runs, "last").run_id == max(first.run_id, second.run_id)
    assert find_run(runs, first.run_id).folder == first.folder
    with pytest.raises(RecordError, match="no run"):
        find_run(runs, "nope")
    first.update(status="running")
    assert first.meta() == {"run_id": first.run_id, "status": "running"}


def test_follow_prints_a_running_log_as_it_grows_and_stops_when_the_run_ends(tmp_path):
    record = RunRecord.create(tmp_path / "runs", Redactor())
    record.update(status="running", pid=os.getpid())
    record.log("first")

    def finish_later():
        time.sleep(0.5)
        record.log("second")
        record.update(status="succeeded")

    worker = threading.Thread(target=finish_later)
    worker.start()
    chunks = list(follow_log(record, poll=0.05))
    worker.join()
    assert len(chunks) >= 2 and "".join(chunks).count("\n") == 2 and "second" in chunks[-1]


def test_follow_stops_when_the_process_of_a_running_run_is_gone(tmp_path):
    record = RunRecord.create(tmp_path / "runs", Redactor())
    record.update(status="running", pid=2**22 + 1)  # above pid_max: no such process
    record.log("only line")
    assert "".join(follow_log(record, poll=0.05)).endswith("only line\n")
