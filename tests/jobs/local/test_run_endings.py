"""`codexbot run` keeps the agent's change when a model error or a limit ends the run, and says it is partial:
a real process in a real checkout, the emulator as a model server that fails mid-run."""

from __future__ import annotations

import json
import re

import pytest

from tests import sample_repo
from tests.emulators.openai_api import OpenAIEmulator
from tests.jobs.local.test_run import API_KEY, make_checkout
from tests.test_cli_local import codexbot

FIXED_SO_FAR = sample_repo.fix_script()[:3]  # ran the tests, read calc.py, wrote the fix; no finish yet
# vLLM's words when the conversation outgrows the window: a request no retry can mend
TOO_LONG = {"status": 400, "body": {"object": "error", "type": "BadRequestError", "param": None, "code": 400,
                                    "message": "This model's maximum context length is 8192 tokens. However, you "
                                               "requested 9001 tokens (8001 in the messages, 1000 in the completion)"}}


@pytest.fixture
def checkout(tmp_path):
    return make_checkout(tmp_path)


def model_env(emu: OpenAIEmulator, **more: str) -> dict:
    return {"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": emu.url + "/v1", "CODEXBOT_MODEL_API": "chat",
            "CODEXBOT_MODEL_RETRIES": "0", **more}


def test_a_model_error_mid_run_keeps_the_change_says_it_is_partial_and_applies_later(checkout):
    with OpenAIEmulator(script=FIXED_SO_FAR + [TOO_LONG], api_key=API_KEY) as emu:
        done = codexbot(checkout, "run", "fix the failing test", "--no-apply", "--json", env=model_env(emu))
        asked = len(emu.requests)
    assert asked == 4 and done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "failed" and "maximum context length is 8192 tokens" in result["error"]
    assert "-    return a - b\n+    return a + b" in result["diff"]
    assert result["partial"].startswith("this change is partial: the agent did not finish (")
    assert result["tokens"] > 0 and result["usage"]["steps"] == 3
    assert "1 passed" in result["tests"]["output"]  # the partial change was tested like a finished one
    folder = checkout / ".codexbot" / "runs" / result["run_id"]
    log = (folder / "log.txt").read_text()
    assert "what the model server answered:" in log and '"BadRequestError"' in log  # the whole body: the log only
    assert '"BadRequestError"' not in result["error"]
    assert f"it is kept: codexbot apply {result['run_id']}" in done.stderr
    assert json.loads((folder / "meta.json").read_text())["partial"] == result["partial"]
    assert len(json.loads((folder / "transcript.json").read_text())["steps"]) == 3

    assert (checkout / "calc.py").read_text() == sample_repo.FILES["calc.py"]  # --no-apply: untouched
    applied = codexbot(checkout, "apply", result["run_id"])
    assert applied.returncode == 0, applied.stderr
    assert (checkout / "calc.py").read_text() == sample_repo.FIXED_CALC


def test_a_model_error_before_any_step_fails_at_once_without_running_the_tests(checkout):
    with OpenAIEmulator(script=[TOO_LONG], api_key=API_KEY) as emu:
        done = codexbot(checkout, "run", "fix the failing test", "--no-apply", "--json", env=model_env(emu))
    result = json.loads(done.stdout)
    assert done.returncode == 1 and result["status"] == "failed" and result["diff"] == "" and not result["partial"]
    assert "maximum context length" in result["error"] and result["tests"] is None
    assert "what the model server answered:" in (checkout / ".codexbot" / "runs" / result["run_id"] / "log.txt"
                                                 ).read_text()


def test_a_limit_mid_run_keeps_the_change_and_the_output_says_why_it_is_partial(checkout):
    big = {**FIXED_SO_FAR[2], "usage": {"prompt_tokens": 30_000, "completion_tokens": 100}}
    finish = sample_repo.fix_script()[4]
    with OpenAIEmulator(script=FIXED_SO_FAR[:2] + [big, finish], api_key=API_KEY) as emu:
        done = codexbot(checkout, "run", "fix the failing test", "--apply",
                        env=model_env(emu, CODEXBOT_MAX_TOKENS="20000"))
        left = emu.remaining
    assert done.returncode == 0, done.stderr
    assert left == 1  # the finish was never asked for: the limit ended the run
    assert "+    return a + b" in done.stdout and "tests passed: 1 passed" in done.stdout
    assert re.search(r"this change is partial: the agent did not finish \(the agent used 3\d,\d{3} tokens, reaching its "
                     r"limit of 20,000\)", done.stderr), done.stderr
    assert (checkout / "calc.py").read_text() == sample_repo.FIXED_CALC  # --apply takes a partial change too


def test_a_finished_run_says_nothing_of_a_partial_change(checkout):
    with OpenAIEmulator(script=sample_repo.fix_script(), api_key=API_KEY) as emu:
        done = codexbot(checkout, "run", "fix the failing test", "--no-apply", "--json", env=model_env(emu))
    assert done.returncode == 0 and json.loads(done.stdout)["partial"] == ""
    assert "partial" not in done.stderr
