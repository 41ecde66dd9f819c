"""How real OpenAI-compatible servers depart from OpenAI, so the OpenAI emulator can play them in fast tests.

Each quirk was seen on a real server (issue 22) or is documented by it:
- llama-cpp-python's server (`--chat_format chatml-function-calling`) ignores `tools` unless `tool_choice`
  is sent, and validates assistant content as a string: null, or a missing key, is a 500 carrying
  pydantic's multi-line "validation errors" text.
- vLLM lists `max_model_len` in GET /v1/models and refuses (400) a request whose prompt plus answer cap
  exceeds it; llama.cpp's llama-server reports its window in GET /props; Ollama in POST /api/show.
- LM Studio says the loaded window only in its own REST API (/api/v0/models, /api/v1/models); a LiteLLM
  proxy lists `max_input_tokens` per deployment in GET /model/info.
- FastAPI-based servers answer a route they do not have with 404 {"detail": "Not Found"}.
- Without an answer cap, small local servers generate until the context is full. llama-cpp-python 0.3.36's
  chatml-function-calling handler ignores the cap whenever tool_choice is "auto" (each of its inner completions
  is made with max_tokens=None) and refuses stream=True with tools ("Automatic streaming tool choice is not
  supported"): only the agent's time bounds such a call, and the server keeps generating after codexbot leaves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass
class ServerQuirks:
    tools_need_choice: bool = False  # tools without tool_choice never reach the model: tool calls become text
    string_content: bool = False  # an assistant message's content must be a string
    max_model_len: int | None = None  # vLLM: listed in /v1/models, and prompt + cap must fit in it
    props_n_ctx: int | None = None  # llama.cpp's llama-server: GET /props
    ollama_num_ctx: int | None = None  # Ollama: the model's num_ctx parameter in POST /api/show
    lm_studio_v0_ctx: int | None = None  # LM Studio 0.3: loaded_context_length in GET /api/v0/models
    lm_studio_v1_ctx: int | None = None  # LM Studio 0.4: loaded_instances[].config.context_length, GET /api/v1/models
    litellm_max_input: int | None = None  # LiteLLM: GET /model/info, two deployments (this and twice this)
    no_responses: bool = False  # POST /v1/responses is an unknown route
    uncapped_answer_tokens: int = 0  # without a cap, an answer reports this many completion tokens


class QuirkError(Exception):
    """A refusal in the server's own shape (not OpenAI's): status and JSON body as that server sends them."""

    def __init__(self, status: int, body: dict):
        super().__init__(json.dumps(body))
        self.status, self.body = status, body


def check_chat_quirks(quirks: ServerQuirks, body: dict) -> None:
    """Refuse what the played server refuses."""
    if quirks.string_content:
        for index, message in enumerate(body.get("messages") or []):
            if message.get("role") == "assistant" and not isinstance(message.get("content"), str):
                raise QuirkError(500, {"error": {"message": pydantic_error(index, message.get("content")),
                                                 "type": "internal_server_error", "param": None, "code": None}})
    if quirks.max_model_len:
        prompt = len(json.dumps(body.get("messages"))) // 4 + len(json.dumps(body.get("tools") or [])) // 4
        cap = body.get("max_tokens") or body.get("max_completion_tokens") or 0
        if prompt + cap > quirks.max_model_len:
            raise QuirkError(400, {"object": "error", "type": "BadRequestError", "param": None, "code": 400,
                                   "message": f"This model's maximum context length is {quirks.max_model_len} "
                                              f"tokens. However, you requested {prompt + cap} tokens ({prompt} in "
                                              f"the messages, {cap} in the completion)."})


def apply_chat_quirks(quirks: ServerQuirks, body: dict, item: dict) -> dict:
    """The scripted answer as the played server would give it."""
    if quirks.tools_need_choice and body.get("tools") and not body.get("tool_choice") and item.get("tool_calls"):
        text = " ".join(f'{call["name"]}({json.dumps(call.get("arguments", {}))})' for call in item["tool_calls"])
        item = {**item, "content": text, "tool_calls": None, "finish_reason": "stop"}
    if quirks.uncapped_answer_tokens and not (body.get("max_tokens") or body.get("max_completion_tokens")):
        item = {**item, "usage": {**(item.get("usage") or {}), "completion_tokens": quirks.uncapped_answer_tokens}}
    return item


def pydantic_error(index: int, value) -> str:
    """What llama-cpp-python's 500 says: pydantic's text, one error per member of the message union."""
    kinds = ("ChatCompletionRequestSystemMessage", "ChatCompletionRequestUserMessage",
             "ChatCompletionRequestAssistantMessage", "ChatCompletionRequestToolMessage")
    lines = [f"{len(kinds)} validation errors for CreateChatCompletionRequest"]
    for kind in kinds:
        lines += [f"messages.{index}.{kind}.content",
                  f"  Input should be a valid string [type=string_type, input_value={value!r}, "
                  f"input_type={type(value).__name__}]",
                  "    For further information visit https://errors.pydantic.dev/2.11/v/string_type"]
    return "\n".join(lines)


def server_info_routes(quirks: ServerQuirks, path: str, method: str, body: bytes, model_ids: tuple) -> dict | None:
    """The answer to a server's own question routes (/props, /api/show, /api/ps, LM Studio's and LiteLLM's
    model lists), or None when not played."""
    if path == "/props" and method == "GET" and quirks.props_n_ctx:
        return {"default_generation_settings": {"n_ctx": quirks.props_n_ctx}, "total_slots": 1}
    if path == "/api/show" and method == "POST" and quirks.ollama_num_ctx:
        model = json.loads(body or b"{}").get("model", "")
        return {"parameters": f'stop "<|im_end|>"\nnum_ctx {quirks.ollama_num_ctx}', "model_info":
                {"general.architecture": "qwen2", "qwen2.context_length": 32768}, "details": {"family": model}}
    if path == "/api/ps" and method == "GET" and quirks.ollama_num_ctx:
        return {"models": [{"name": model_id, "context_length": quirks.ollama_num_ctx} for model_id in model_ids]}
    return _lm_studio_and_litellm(quirks, path, method, model_ids)


def _lm_studio_and_litellm(quirks: ServerQuirks, path: str, method: str, model_ids: tuple) -> dict | None:
    if method != "GET":
        return None
    if path == "/api/v0/models" and quirks.lm_studio_v0_ctx:
        loaded = {"state": "loaded", "max_context_length": 131072, "loaded_context_length": quirks.lm_studio_v0_ctx}
        return {"object": "list", "data": [{"id": model_id, "object": "model", "type": "llm", **loaded}
                                           for model_id in model_ids]}
    if path == "/api/v1/models" and quirks.lm_studio_v1_ctx:
        return {"models": [{"type": "llm", "key": model_id, "max_context_length": 131072, "loaded_instances":
                            [{"id": model_id, "config": {"context_length": quirks.lm_studio_v1_ctx}}]}
                           for model_id in model_ids]}
    if path == "/model/info" and quirks.litellm_max_input:
        return {"data": [{"model_name": model_id, "litellm_params": {"model": f"ollama/{model_id}"},
                          "model_info": {"max_input_tokens": quirks.litellm_max_input * factor, "max_tokens": 8192}}
                         for model_id in model_ids for factor in (2, 1)]}
    return None
