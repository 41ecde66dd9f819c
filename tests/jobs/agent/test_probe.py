"""`codexbot check`'s model line: one tiny tool-calling request with the configured API, against the emulator."""

from __future__ import annotations

import pytest

from jobs.host.self_check import CheckFailed, check_model
from jobs.settings import Settings
from tests.emulators.openai_api import OpenAIEmulator
from tests.emulators.openai_quirks import ServerQuirks

KEY = "sk-check-0123456789"


def settings(emu: OpenAIEmulator, **values) -> Settings:
    return Settings(openai_api_key=KEY, openai_base_url=emu.url + "/v1", model="gpt-emulator", **values)


def test_a_server_that_calls_tools_passes_and_says_so():
    ready = {"tool_calls": [{"name": "report_ready", "arguments": {"word": "ready"}}]}
    with OpenAIEmulator(script=[ready], api_key=KEY) as emu:
        line = check_model(settings(emu, model_api="chat"))
        base = emu.url + "/v1"
    assert line.startswith(f"{base} serves gpt-emulator; it called a tool (report_ready) in ")
    sent = emu.requests[0]
    assert [tool["function"]["name"] for tool in sent["tools"]] == ["report_ready"]
    assert sent["tool_choice"] == "auto" and sent["max_tokens"] == 2048


def test_a_server_that_answers_without_calling_tools_fails_with_the_fixes():
    with OpenAIEmulator(script=["I am ready to help you with report_ready!"], api_key=KEY) as emu:
        with pytest.raises(CheckFailed) as caught:
            check_model(settings(emu, model_api="chat"))
    assert str(caught.value).startswith("gpt-emulator answered without calling the tool it was asked to call "
                                        "('I am ready to help you with report_ready!'): the agent cannot work")
    assert "--jinja" in str(caught.value) and "chatml-function-calling" in str(caught.value)


def test_the_responses_api_is_tried_so_a_server_without_it_fails_the_check():
    with OpenAIEmulator(api_key=KEY, quirks=ServerQuirks(no_responses=True)) as emu:
        with pytest.raises(CheckFailed, match=r"has no Responses API \(POST /responses: Not Found\): set "
                                              r"CODEXBOT_MODEL_API=chat$"):
            check_model(settings(emu, model_api="responses"))


def test_a_wrong_key_is_named_before_any_probe():
    with OpenAIEmulator(api_key=KEY) as emu:
        with pytest.raises(CheckFailed, match="check OPENAI_API_KEY"):
            check_model(Settings(openai_api_key="sk-wrong", openai_base_url=emu.url + "/v1", model="m"))
    assert emu.requests == []
