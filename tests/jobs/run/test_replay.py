"""Record a run through the emulator, store its transcript as JSON, replay it offline and compare the outcome."""

from __future__ import annotations

import json
import subprocess

import pytest

from jobs.git import workspace as git_workspace
from jobs.agent import Agent, Limits, ModelError
from jobs.run.wiring import make_model
from jobs.run.replay import ScriptedModel, ScriptExhausted, record_outcome, replay, transcript_from_script
from jobs.run.wiring import make_sandbox
from jobs.repo.testing import run_tests
from tests import sample_repo
from tests.emulators.openai_api import OpenAIEmulator

TEST_COMMAND = "python3 -m pytest -q -p no:cacheprovider"
IDENTITY = git_workspace.Identity("codexbot", "codexbot@example.invalid")


def git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main",
                    *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def origin(tmp_path):
    """The sample repository with its failing test, as a git repository to clone from."""
    repo = tmp_path / "origin"
    for name, text in sample_repo.FILES.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


def clone(origin, path):
    git(origin.parent, "clone", "-q", str(origin), str(path))
    return path


def record_run(origin, tmp_path, api="chat", script=None):
    """A run as the pipeline does it: agent through the emulator, tests, commit, diff; stored as JSON."""
    work = clone(origin, tmp_path / f"run-{api}")
    sandbox = make_sandbox("bwrap", work)
    with OpenAIEmulator(script=script or sample_repo.fix_script()) as emu:
        model = make_model(api, emu.url + "/v1", "sk-test", "gpt-5-codex", timeout=10)
        result = Agent(model, sandbox, Limits(max_steps=10)).run("fix the failing test", "Use pytest.", TEST_COMMAND)
    tests = run_tests(sandbox, TEST_COMMAND, 120)
    base = git_workspace.head_sha(work)
    git_workspace.commit_all(work, "fix", IDENTITY)
    diff = git_workspace.diff(work, base)
    return json.loads(json.dumps(record_outcome(result.transcript, diff, tests))), diff


def bwrap(path):
    return make_sandbox("bwrap", path)


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_recorded_run_replays_to_the_same_diff_and_tests(origin, tmp_path, api):
    transcript, diff = record_run(origin, tmp_path, api)
    assert transcript["outcome"]["tests"]["passed"] == 1 and "+    return a + b" in diff
    events: list[str] = []
    replayed = replay(transcript, clone(origin, tmp_path / "replay"), bwrap, on_event=events.append)
    assert replayed.matches, replayed.mismatches
    assert replayed.diff == diff and replayed.tests.passed == 1
    assert replayed.agent.steps == 5 and replayed.agent.summary == sample_repo.SUMMARY
    assert events[-1] == "stopped: the agent called finish"


def test_a_replay_that_ends_elsewhere_names_what_differs(origin, tmp_path):
    transcript, diff = record_run(origin, tmp_path)
    work = clone(origin, tmp_path / "replay")
    (work / "calc.py").write_text("def add(a, b):\n    return b + a\n")  # the base moved under the recording
    git(work, "commit", "-q", "-am", "moved")
    broken = json.loads(json.dumps(transcript))
    broken["steps"][2]["response"]["tool_calls"][0]["arguments"] = json.dumps(
        {"path": "calc.py", "content": "def add(a, b):\n    return a * b\n"})
    replayed = replay(broken, work, bwrap)
    assert not replayed.matches
    assert replayed.mismatches[0].startswith("diff: recorded sha256 ")
    assert "tests exit_code: recorded 0, replayed 1" in replayed.mismatches
    assert "tests failed: recorded 0, replayed 1" in replayed.mismatches


def test_the_demo_script_is_a_transcript_that_replays(origin, tmp_path):
    transcript = transcript_from_script(sample_repo.fix_script(), task="fix the failing test")
    replayed = replay(transcript, clone(origin, tmp_path / "replay"), bwrap, test_command=TEST_COMMAND,
                      setup_commands=["python3 -c 'import pytest'"])
    assert replayed.matches and replayed.tests.passed == 1 and replayed.agent.finished
    assert "-    return a - b\n+    return a + b" in replayed.diff


def test_a_run_ended_by_a_model_error_replays_its_recorded_steps(origin, tmp_path):
    work = clone(origin, tmp_path / "run")
    refused = {"status": 401, "body": {"error": {"message": "Incorrect API key", "type": "invalid_request_error"}}}
    with OpenAIEmulator(script=sample_repo.fix_script()[:3] + [refused]) as emu:
        model = make_model("chat", emu.url + "/v1", "sk-test", "gpt-5-codex", timeout=10)
        with pytest.raises(ModelError) as caught:
            Agent(model, bwrap(work), Limits()).run("fix the failing test", "", TEST_COMMAND)
    partial = json.loads(json.dumps(caught.value.partial.transcript))
    assert len(partial["steps"]) == partial["result"]["steps"] == 3
    assert partial["result"]["stop_reason"] == "the model API rejected the key: check OPENAI_API_KEY"
    replayed = replay(partial, clone(origin, tmp_path / "replay"), bwrap)
    assert replayed.matches, replayed.mismatches
    assert replayed.agent.stop_reason == "the agent used all 3 steps without finishing"
    assert (tmp_path / "replay" / "calc.py").read_text() == sample_repo.FIXED_CALC


def test_the_scripted_model_answers_in_order_then_says_it_ran_out():
    model = ScriptedModel(["hello", {"tool_calls": [{"name": "shell", "arguments": '{"command": "ls"}'}],
                                     "usage": {"prompt_tokens": 7, "completion_tokens": 2}}])
    first = model.complete([{"role": "user", "content": "x" * 400}], [])
    assert first.content == "hello" and first.usage.prompt_tokens == (400 + 16) // 4  # text and framing
    second = model.complete([], [])
    assert second.tool_calls[0].arguments == {"command": "ls"} and second.usage.completion_tokens == 2
    with pytest.raises(ScriptExhausted, match="only 2 answers") as caught:
        model.complete([], [])
    assert isinstance(caught.value, ModelError)
