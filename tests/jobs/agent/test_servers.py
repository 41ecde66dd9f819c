"""The model servers people run (llama.cpp, llama-cpp-python, vLLM, Ollama, LM Studio, LiteLLM, OpenRouter), played
by the emulator: each test plays one quirk seen on a real server, through the real openai client."""

from __future__ import annotations

import time

import pytest

from jobs.agent import Agent, ChatModel, Limits, ModelError, ResponsesModel
from jobs.agent.calls import OutOfTime, calls_until
from jobs.agent.chat_model import cap_field_for
from jobs.agent.model import parse_tool_call
from jobs.agent.prompt import CUT_NUDGE
from jobs.agent.tools import TOOLS
from jobs.run.wiring import make_sandbox
from tests.emulators.openai_api import OpenAIEmulator
from tests.emulators.openai_quirks import ServerQuirks, pydantic_error

HI = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
LS = {"tool_calls": [{"name": "shell", "arguments": {"command": "ls"}, "id": "call_1"}]}
LLAMA_CPP_PYTHON = ServerQuirks(tools_need_choice=True, string_content=True)


def adapter(api: str, emu: OpenAIEmulator, retries: int = 3, **options):
    waits: list[float] = []
    lines: list[str] = []
    kind = ChatModel if api == "chat" else ResponsesModel
    model = kind(emu.url + "/v1", "sk-test", options.pop("model", "gpt-emulator"), timeout=options.pop("timeout", 10),
                 max_retries=retries, on_retry=lines.append, sleep=waits.append, **options)
    return model, waits, lines


def error(status: int, message: str) -> dict:
    return {"status": status, "body": {"error": {"message": message, "type": "x", "param": None, "code": None}}}


def test_tools_reach_a_server_that_ignores_them_without_tool_choice():
    with OpenAIEmulator(script=[LS], quirks=LLAMA_CPP_PYTHON) as emu:
        model, waits, lines = adapter("chat", emu)
        reply = model.complete(HI, TOOLS)
    assert emu.requests[0]["tool_choice"] == "auto"
    assert [call.name for call in reply.tool_calls] == ["shell"]


def test_responses_requests_ask_for_tools_and_cap_the_answer_too():
    with OpenAIEmulator(script=[LS]) as emu:
        model, waits, lines = adapter("responses", emu, max_tokens=3000)
        model.complete(HI, TOOLS)
    assert emu.requests[0]["tool_choice"] == "auto" and emu.requests[0]["max_output_tokens"] == 3000


def test_assistant_turns_go_back_with_string_content_never_null():
    with OpenAIEmulator(script=[LS, "done"], quirks=LLAMA_CPP_PYTHON) as emu:
        model, waits, lines = adapter("chat", emu)
        first = model.complete(HI, TOOLS)
        old = {"role": "assistant", "content": None}  # as an older transcript recorded it
        model.complete(HI + [first.message, {"role": "tool", "tool_call_id": "call_1", "content": "a.py"}, old,
                             {"role": "user", "content": "go on"}], TOOLS)
    sent = emu.requests[1]["messages"]
    assert sent[2]["content"] == "" and sent[4] == {"role": "assistant", "content": ""}
    assert waits == [] and len(emu.requests) == 2


def test_every_answer_is_capped_by_the_setting_or_a_sane_default():
    with OpenAIEmulator(script=["a", "b"], quirks=ServerQuirks(uncapped_answer_tokens=6930)) as emu:
        capped, _, _ = adapter("chat", emu, max_tokens=1024)
        default, _, _ = adapter("chat", emu)
        assert capped.complete(HI, TOOLS).usage.completion_tokens < 6930
        default.complete(HI, TOOLS)
    assert emu.requests[0]["max_tokens"] == 1024 and emu.requests[1]["max_tokens"] == 8192
    assert cap_field_for("https://api.openai.com/v1") == "max_completion_tokens"
    assert cap_field_for("https://x.openai.azure.com/openai/v1") == "max_completion_tokens"
    assert cap_field_for("http://127.0.0.1:11434/v1") == "max_tokens"


def test_a_server_that_refuses_max_tokens_is_asked_with_max_completion_tokens_from_then_on():
    with OpenAIEmulator(script=["a", "b"]) as emu:
        model, waits, lines = adapter("chat", emu, model="o4-mini")
        model.complete(HI, TOOLS)
        model.complete(HI, TOOLS)
    assert [("max_tokens" in r, "max_completion_tokens" in r) for r in emu.requests] == [
        (True, False), (False, True), (False, True)]


def test_raw_newlines_in_tool_arguments_are_accepted_and_worse_gets_a_clear_tool_error():
    lenient = parse_tool_call("c1", "write_file", '{"path": "a.py", "content": "x = 1\n\ty = 2\n"}')
    assert lenient.error is None and lenient.arguments["content"] == "x = 1\n\ty = 2\n"
    broken = parse_tool_call("c2", "shell", '{"command": "ls')
    assert broken.error.startswith("the arguments of shell are not valid JSON (Unterminated string")
    assert parse_tool_call(None, "shell", {"command": "ls"}).arguments == {"command": "ls"}
    assert parse_tool_call(None, "shell", "").id.startswith("call_")


@pytest.mark.parametrize("content, left", [
    ('Listing.\n<tool_call>\n{"name": "shell", "arguments": {"command": "ls"}}\n</tool_call>', "Listing."),
    ('{"name": "shell", "parameters": {"command": "ls"}}', None),
])
def test_tool_calls_a_server_left_in_the_text_are_taken(content, left):
    with OpenAIEmulator(script=[content]) as emu:
        model, waits, lines = adapter("chat", emu)
        reply = model.complete(HI, TOOLS)
    assert [(call.name, call.arguments) for call in reply.tool_calls] == [("shell", {"command": "ls"})]
    assert reply.content == left and reply.message["tool_calls"][0]["function"]["name"] == "shell"


def test_text_that_only_looks_like_json_stays_text():
    with OpenAIEmulator(script=['{"result": 4}', "<tool_call>{not json}</tool_call>"]) as emu:
        model, waits, lines = adapter("chat", emu)
        assert model.complete(HI, TOOLS).tool_calls == [] and model.complete(HI, TOOLS).tool_calls == []


def test_a_validation_error_in_a_500_is_not_retried_and_names_the_field_in_one_line():
    body = {"error": {"message": pydantic_error(3, None), "type": "internal_server_error", "param": None,
                      "code": None}}
    with OpenAIEmulator(script=[{"status": 500, "body": body}, "never"]) as emu:
        model, waits, lines = adapter("chat", emu)
        with pytest.raises(ModelError) as caught:
            model.complete(HI, TOOLS)
    assert str(caught.value) == (f"the model API at {model.base_url} refused the request as invalid (HTTP 500): "
                                 "invalid field messages.3.ChatCompletionRequestSystemMessage.content (Input "
                                 "should be a valid string)")
    assert len(emu.requests) == 1 and waits == [] and "errors.pydantic.dev" in caught.value.details


def test_a_fastapi_422_names_the_field():
    body = {"detail": [{"type": "missing", "loc": ["body", "messages", 2, "content"], "msg": "Field required"}]}
    with OpenAIEmulator(script=[{"status": 422, "body": body}]) as emu:
        model, waits, lines = adapter("chat", emu)
        with pytest.raises(ModelError, match=r"\(HTTP 422\): invalid field messages.2.content \(Field required\)$"):
            model.complete(HI, TOOLS)


def test_a_long_server_error_is_one_short_line_on_each_retry():
    traceback = "Exception: boom\n" + "\n".join(f'  File "/srv/llama_cpp/server/app.py", line {n}' for n in range(60))
    with OpenAIEmulator(script=[error(503, traceback), "ok"]) as emu:
        model, waits, lines = adapter("chat", emu)
        assert model.complete(HI, TOOLS).content == "ok"
    assert lines == [f"model API: HTTP 503 (Exception: boom); retrying in {waits[0]:.1f} s (retry 1 of 3)"]


@pytest.mark.parametrize("answer, sentence", [
    (error(400, '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'),
     "this vLLM server does not parse tool calls: start it with --enable-auto-tool-choice and --tool-call-parser"),
    (error(500, "tools param requires --jinja flag"),
     "this llama.cpp server does not take tools: start llama-server with --jinja"),
    (error(400, "registry.ollama.ai/library/gemma3:4b does not support tools"),
     "gpt-emulator does not support tools on this server: pick a model whose template has tools"),
    (error(404, "No endpoints found that support tool use. To learn more about provider routing, visit: "
                "https://openrouter.ai/docs/provider-routing"),
     "no provider of gpt-emulator on OpenRouter supports tool use: pick a model that lists tools"),
    (error(400, "litellm.UnsupportedParamsError: deepinfra does not support parameters: ['tool_choice'], for "
                "model=gpt-emulator. To drop these, set `litellm.drop_params=True` or for proxy:\n\n`litellm_settings:"
                "\n drop_params: true`\n."),
     "the LiteLLM proxy's provider for gpt-emulator does not take a parameter codexbot sends (litellm.Unsupported"),
])
def test_known_server_refusals_end_at_once_with_the_fix(answer, sentence):
    with OpenAIEmulator(script=[answer, "never"]) as emu:
        model, waits, lines = adapter("chat", emu)
        with pytest.raises(ModelError) as caught:
            model.complete(HI, TOOLS)
    assert str(caught.value).startswith(sentence) and len(emu.requests) == 1 and waits == []


def test_a_server_without_the_responses_api_is_not_reported_as_a_missing_model():
    with OpenAIEmulator(quirks=ServerQuirks(no_responses=True)) as emu:
        model, waits, lines = adapter("responses", emu)
        with pytest.raises(ModelError) as caught:
            model.complete(HI, TOOLS)
    assert str(caught.value) == (f"the server at {model.base_url} has no Responses API (POST /responses: Not "
                                 "Found): set CODEXBOT_MODEL_API=chat")


@pytest.mark.parametrize("quirks, window", [
    (ServerQuirks(max_model_len=4096), 4096),  # vLLM
    (ServerQuirks(props_n_ctx=8192), 8192),  # llama.cpp's llama-server
    (ServerQuirks(ollama_num_ctx=16384), 16384),  # Ollama
    (ServerQuirks(lm_studio_v0_ctx=4096), 4096),  # LM Studio 0.3, the loaded model's window
    (ServerQuirks(lm_studio_v1_ctx=6144), 6144),  # LM Studio 0.4
    (ServerQuirks(litellm_max_input=12000), 12000),  # a LiteLLM proxy: the smaller of the name's two deployments
    (ServerQuirks(string_content=True), None),  # llama-cpp-python says nothing
])
def test_the_context_window_is_taken_from_the_server_where_it_says(quirks, window):
    with OpenAIEmulator(script=["ok"], api_key="sk-test", quirks=quirks) as emu:
        model, waits, lines = adapter("chat", emu)
        assert model.context_window() == window
        model.complete(HI, TOOLS)  # vLLM refuses a cap that does not fit beside the prompt
    assert emu.requests[0]["max_tokens"] <= (window or 8192)


def test_the_answer_cap_leaves_room_for_the_prompt_on_both_apis():
    long = [{"role": "user", "content": "x" * 9000}]
    with OpenAIEmulator(script=["a", "b"], quirks=ServerQuirks(max_model_len=8192)) as emu:
        chat, _, _ = adapter("chat", emu)
        responses, _, _ = adapter("responses", emu)
        chat.complete(long, TOOLS)
        responses.complete(long, TOOLS)
    chat_cap, responses_cap = emu.requests[0]["max_tokens"], emu.requests[1]["max_output_tokens"]
    assert 256 <= chat_cap <= 8192 - 3000 and 256 <= responses_cap <= 8192 - 3000


def test_a_model_call_ends_when_the_agents_time_does():
    slow = lambda body: time.sleep(3) or "late"  # noqa: E731
    with OpenAIEmulator(script=[slow, {"status": 429, "body": {}, "headers": {"retry-after": "5"}}]) as emu:
        model, waits, lines = adapter("chat", emu, timeout=30)
        started = time.monotonic()
        with calls_until(time.monotonic() + 1.5), pytest.raises(OutOfTime):
            model.complete(HI, TOOLS)
        assert time.monotonic() - started < 2.5
        retry = "no time was left to retry the model call after HTTP 429"
        with calls_until(time.monotonic() + 2), pytest.raises(OutOfTime, match=retry):
            model.complete(HI, TOOLS)  # the server asks for 5 s; the agent has 2
    assert waits == []


def run_agent(workspace, script, limits, quirks=None, should_stop=None):
    events: list[str] = []
    with OpenAIEmulator(script=script, quirks=quirks) as emu:
        model = ChatModel(emu.url + "/v1", "sk-test", "gpt-emulator", timeout=30, max_retries=0)
        agent = Agent(model, make_sandbox("bwrap", workspace), limits, on_event=events.append,
                      prices={"gpt-emulator": (1.0, 2.0)}, should_stop=should_stop)
        started = time.monotonic()
        result = agent.run("fix add")
    return result, emu, events, time.monotonic() - started, agent


def test_the_wall_time_holds_during_a_slow_model_call(tmp_path):
    slow = lambda body: time.sleep(4) or "late"  # noqa: E731
    result, emu, events, seconds, agent = run_agent(tmp_path, [LS, slow], Limits(wall_seconds=2.5))
    assert result.stopped_by == "wall_time" and result.steps == 1 and seconds < 3.3
    assert result.stop_reason == "the agent used all of its 2.5 s without finishing (the model was still answering)"


def test_a_cancel_ends_a_model_call_that_is_still_running(tmp_path):
    slow = lambda body: time.sleep(6) or "late"  # noqa: E731
    asked = time.monotonic() + 1.0
    cancel = lambda: "cancelled by alice" if time.monotonic() > asked else None  # noqa: E731
    result, emu, events, seconds, agent = run_agent(tmp_path, [slow], Limits(), should_stop=cancel)
    assert (result.stopped_by, result.stop_reason, result.steps) == ("cancelled", "cancelled by alice", 0)
    assert seconds < 3.5


def test_the_conversation_budget_follows_the_servers_window(tmp_path):
    result, emu, events, seconds, agent = run_agent(tmp_path, ["a", "b"], Limits(context_tokens=64_000),
                                                    ServerQuirks(props_n_ctx=8000))
    assert agent.context.budget == 4000
    assert "note: the model server runs gpt-emulator with a context window of 8,000 tokens; the conversation " \
           "is kept under about 4,000" in events


def test_an_answer_cut_at_its_cap_is_told_to_the_model(tmp_path):
    cut = {"content": "Here is the whole file: ...", "finish_reason": "length"}
    result, emu, events, seconds, agent = run_agent(tmp_path, [cut, "stop"], Limits())
    assert emu.requests[1]["messages"][-1] == {"role": "user", "content": CUT_NUDGE}
    assert any("reached its length limit (CODEXBOT_MODEL_MAX_TOKENS)" in line for line in events)


def test_a_run_ended_by_a_model_error_keeps_its_usage_and_the_servers_whole_answer(tmp_path):
    refusal = {"status": 400, "body": {"detail": [{"loc": ["body", "max_tokens"], "msg": "too large"}]}}
    with pytest.raises(ModelError) as caught:
        run_agent(tmp_path, [{**LS, "usage": {"prompt_tokens": 965, "completion_tokens": 20}}, refusal], Limits())
    partial = caught.value.partial
    assert (partial.stopped_by, partial.steps, partial.prompt_tokens, partial.completion_tokens) == (
        "model_error", 1, 965, 20)
    assert str(caught.value).endswith("invalid field max_tokens (too large)") and '"too large"' in caught.value.details
