"""The model adapters (Responses and Chat Completions) through the real openai client and the emulator."""

from __future__ import annotations

import time

import openai
import pytest

from jobs.agent import ChatModel, ModelError, ResponsesModel, default_api
from jobs.run.wiring import make_model
from jobs.agent.tools import TOOLS
from tests.emulators.openai_api import OpenAIEmulator

HI = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]


def error(status: int, message: str, code: str | None = None, headers: dict | None = None) -> dict:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    return {"status": status, "body": body, "headers": headers or {}}


def adapter(api: str, emu: OpenAIEmulator, retries: int = 3, **options):
    """An adapter whose waits are recorded instead of slept; returns it with the waits and retry lines."""
    waits: list[float] = []
    lines: list[str] = []
    kind = ChatModel if api == "chat" else ResponsesModel
    model = kind(emu.url + "/v1", "sk-test", options.pop("model", "gpt-emulator"), timeout=options.pop("timeout", 10),
                 max_retries=retries, on_retry=lines.append, sleep=waits.append, **options)
    return model, waits, lines


def test_responses_requests_carry_instructions_flat_tools_and_the_whole_conversation():
    script = [{"content": "Looking.", "tool_calls": [{"name": "shell", "arguments": {"command": "ls"}, "id": "call_1"}]},
              "Done."]
    with OpenAIEmulator(script=script) as emu:
        model, waits, lines = adapter("responses", emu)
        first = model.complete(HI, TOOLS)
        messages = HI + [first.message, {"role": "tool", "tool_call_id": "call_1", "content": "calc.py"}]
        second = model.complete(messages, TOOLS)
    sent = emu.requests[1]
    assert sent["instructions"] == "Be brief." and sent["store"] is False and "previous_response_id" not in sent
    assert {tool["name"] for tool in sent["tools"]} == {tool["function"]["name"] for tool in TOOLS}
    assert all(tool["strict"] is False and tool["type"] == "function" for tool in sent["tools"])
    assert sent["input"] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Looking."},
                             {"type": "function_call", "call_id": "call_1", "name": "shell",
                              "arguments": '{"command": "ls"}'},
                             {"type": "function_call_output", "call_id": "call_1", "output": "calc.py"}]
    assert (first.content, first.tool_calls[0].arguments) == ("Looking.", {"command": "ls"})
    assert second.content == "Done." and second.tool_calls == [] and second.usage.prompt_tokens > 0
    assert "reasoning" not in sent and waits == []


def test_reasoning_is_asked_for_and_handed_back_encrypted():
    script = [{"reasoning": "check the tests first", "tool_calls": [{"name": "shell", "arguments": {"command": "ls"}}]},
              "ok"]
    with OpenAIEmulator(script=script) as emu:
        model = make_model("responses", emu.url + "/v1", "sk-test", "gpt-5-codex", "high", timeout=10)
        first = model.complete(HI, TOOLS)
        call_id = first.tool_calls[0].id
        model.complete(HI + [first.message, {"role": "tool", "tool_call_id": call_id, "content": "x"}], TOOLS)
    assert emu.requests[0]["reasoning"] == {"effort": "high"}
    assert emu.requests[0]["include"] == ["reasoning.encrypted_content"]
    handed_back = emu.requests[1]["input"][1]
    assert handed_back["type"] == "reasoning" and handed_back["encrypted_content"] == "enc:check the tests first"


def test_chat_sends_only_what_chat_completions_knows():
    with OpenAIEmulator(script=["a", "b"]) as emu:
        model = make_model("chat", emu.url + "/v1", "sk-test", "gpt-emulator", "low", timeout=10)
        reply = model.complete(HI, TOOLS)
        model.complete(HI + [{**reply.message, "reasoning": [{"type": "reasoning", "encrypted_content": "e"}]},
                             {"role": "user", "content": "more"}], TOOLS)
    assert emu.requests[0]["reasoning_effort"] == "low"
    assert emu.requests[1]["messages"][2] == {"role": "assistant", "content": "a"}


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_rate_limits_and_server_errors_are_retried_after_the_servers_wait(api):
    script = [error(429, "Rate limit reached", headers={"retry-after-ms": "250"}),
              error(503, "Overloaded", headers={"retry-after": "2"}), error(500, "Oops"), "recovered"]
    with OpenAIEmulator(script=script) as emu:
        model, waits, lines = adapter(api, emu)
        assert model.complete(HI, TOOLS).content == "recovered"
    assert len(emu.requests) == 4
    assert waits[:2] == [0.25, 2.0] and 3 <= waits[2] <= 4  # no header: exponential backoff
    assert lines[0] == "model API: HTTP 429 (Rate limit reached); retrying in 0.2 s (retry 1 of 3)"
    assert lines[1] == "model API: HTTP 503 (Overloaded); retrying in 2.0 s (retry 2 of 3)"


def test_a_retry_really_waits_when_nothing_is_injected():
    with OpenAIEmulator(script=[error(429, "slow down", headers={"retry-after-ms": "300"}), "ok"]) as emu:
        lines: list[str] = []
        model = make_model("responses", emu.url + "/v1", "sk-test", "gpt-emulator", timeout=10, on_retry=lines.append)
        started = time.monotonic()
        assert model.complete(HI, TOOLS).content == "ok"
    assert time.monotonic() - started >= 0.3 and len(lines) == 1


def test_server_errors_are_retried_a_bounded_number_of_times_then_reported():
    with OpenAIEmulator(script=[error(500, "The server had an error.")] * 3) as emu:
        model, waits, lines = adapter("chat", emu, retries=1)
        with pytest.raises(ModelError) as caught:
            model.complete(HI, [])
    assert str(caught.value) == (f"the model API at {model.base_url} failed (HTTP 500) (tried 2 times): "
                                 "The server had an error")
    assert len(emu.requests) == 2 and len(waits) == 1


def test_a_timeout_is_retried_then_reported():
    slow = lambda body: time.sleep(1.5) or "late"  # noqa: E731
    with OpenAIEmulator(script=[slow, slow, "on time"]) as emu:
        model, waits, lines = adapter("responses", emu, retries=1, timeout=0.5)
        with pytest.raises(ModelError) as caught:
            model.complete(HI, TOOLS)
    assert str(caught.value) == (f"the model API at {model.base_url} did not answer within 0.5 s (tried 2 times): "
                                 "check OPENAI_BASE_URL, lower CODEXBOT_MODEL_MAX_TOKENS, or try again later")
    assert lines[0].startswith("model API: no answer in time; retrying in ")


def test_an_unreachable_api_is_retried_then_a_model_error():
    with OpenAIEmulator() as emu:
        url = emu.url + "/v1"
    waits: list[float] = []
    model = ChatModel(url, "sk-test", "gpt-emulator", timeout=2, max_retries=2, sleep=waits.append)
    with pytest.raises(ModelError, match=f"^could not connect to the model API at {url} \\(tried 3 times\\): "
                                         "check OPENAI_BASE_URL and the network$"):
        model.complete(HI, [])
    assert len(waits) == 2


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize("answer, sentence", [
    (error(401, "Incorrect API key provided"), "the model API rejected the key: check OPENAI_API_KEY"),
    (error(404, "The model `gpt-9` does not exist", "model_not_found"),
     "model gpt-emulator was not found at {url}: check CODEXBOT_MODEL"),
    (error(400, "This model's maximum context length is 128000 tokens. However, your messages resulted in "
                "130000 tokens.", "context_length_exceeded"),
     "the conversation outgrew the context window of gpt-emulator (This model's maximum context length is 128000 "
     "tokens. However, your messages resulted in 130000 tokens): lower CODEXBOT_CONTEXT_TOKENS so older tool "
     "output is dropped sooner"),
    (error(429, "You exceeded your current quota", "insufficient_quota"),
     "the account behind OPENAI_API_KEY has no quota left (You exceeded your current quota): add credit or raise "
     "the limit"),
    (error(429, "Try again later", headers={"retry-after": "3600"}),
     "the model API is rate limiting this key (HTTP 429): Try again later; wait or raise the quota"),
])
def test_errors_that_will_not_heal_end_at_once_with_what_to_fix(api, answer, sentence):
    with OpenAIEmulator(script=[answer, "never"]) as emu:
        model, waits, lines = adapter(api, emu)
        with pytest.raises(ModelError) as caught:
            model.complete(HI, TOOLS)
    assert str(caught.value) == sentence.format(url=model.base_url)
    assert len(emu.requests) == 1 and waits == []


def test_a_server_without_the_responses_api_says_to_use_chat():
    unknown = error(404, "Unknown request URL: POST /v1/responses", "unknown_url")
    with OpenAIEmulator(script=[unknown]) as emu:
        model, waits, lines = adapter("responses", emu)
        with pytest.raises(ModelError, match="has no Responses API .*: set CODEXBOT_MODEL_API=chat$"):
            model.complete(HI, TOOLS)


def test_a_codex_model_on_chat_completions_says_to_use_responses():
    only = error(404, "This model is only supported in v1/responses and not in v1/chat/completions.")
    with OpenAIEmulator(script=[{**only, "status": 400}]) as emu:
        model, waits, lines = adapter("chat", emu, model="gpt-5-codex")
        with pytest.raises(ModelError, match="^gpt-5-codex is served only by the Responses API: set "
                                             "CODEXBOT_MODEL_API=responses$"):
            model.complete(HI, TOOLS)


def test_make_model_picks_the_api_and_refuses_others():
    assert isinstance(make_model("chat", None, "k", "m"), ChatModel)
    assert isinstance(make_model("responses", "", "k", "m"), ResponsesModel)
    with pytest.raises(ValueError, match="must be one of responses, chat"):
        make_model("completions", None, "k", "m")
    assert default_api(None) == default_api("https://api.openai.com/v1") == "responses"
    assert default_api("http://localhost:11434/v1") == default_api("https://x.openai.azure.com/v1") == "chat"


def test_emulator_responses_api_keeps_state_for_previous_response_id():
    with OpenAIEmulator(script=[{"tool_calls": [{"name": "shell", "arguments": {"command": "ls"}}]}, "done"]) as emu:
        client = openai.OpenAI(base_url=emu.url + "/v1", api_key="k", max_retries=0, timeout=10)
        tool = {"type": "function", "name": "shell", "parameters": {"type": "object"}, "strict": False}
        first = client.responses.create(model="m", input="list files", tools=[tool])
        call = first.output[0]
        assert call.type == "function_call" and first.usage.input_tokens > 0
        second = client.responses.create(model="m", previous_response_id=first.id, tools=[tool],
                                         input=[{"type": "function_call_output", "call_id": call.call_id,
                                                 "output": "a.py"}])
        assert second.output_text == "done"
        with pytest.raises(openai.BadRequestError, match="No tool call found for function call output"):
            client.responses.create(model="m", input=[{"type": "function_call_output", "call_id": "x", "output": ""}])
        with pytest.raises(openai.BadRequestError, match="Previous response with id 'resp_nope' not found"):
            client.responses.create(model="m", input="hi", previous_response_id="resp_nope")
        strict = {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {"a": {}}}}
        with pytest.raises(openai.BadRequestError, match="Missing 'a'"):
            client.responses.create(model="m", input="hi", tools=[strict])
