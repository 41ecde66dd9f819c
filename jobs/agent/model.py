"""What the loop needs from a model (complete(messages, tools) -> ModelReply), Chat Completions, and make_model."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol
from urllib.parse import urlparse

import openai

from jobs.agent.calls import DEFAULT_BASE_URL, Endpoint, ModelError

__all__ = ["ChatModel", "Model", "ModelError", "ModelReply", "ToolCall", "Usage", "make_model"]
API_KINDS = ("responses", "chat")
WIRE_KEYS = ("role", "content", "tool_calls", "tool_call_id", "name")  # what Chat Completions accepts


@dataclass(frozen=True)
class ToolCall:
    """One call the model asked for, in the same shape whichever API it came through."""

    id: str
    name: str
    arguments: dict
    error: str | None = None  # set when the model sent arguments that are not a JSON object
    raw: str = ""  # the arguments exactly as the model sent them


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0


@dataclass(frozen=True)
class ModelReply:
    content: str | None
    tool_calls: list[ToolCall]
    usage: Usage
    message: dict = field(default_factory=dict)  # the assistant message in the loop's (chat) form


class Model(Protocol):
    """All the loop knows of a model: its name (for prices) and one call with the whole conversation."""

    model: str

    def complete(self, messages: list[dict], tools: list[dict]) -> ModelReply: ...


def make_model(api: str, base_url: str | None, api_key: str, model: str, reasoning_effort: str | None = None,
               timeout: float = 120, *, max_retries: int = 4,
               on_retry: Callable[[str], None] | None = None) -> Model:
    """The one place that picks a model adapter; `api` is the CODEXBOT_MODEL_API setting."""
    if api == "chat":
        return ChatModel(base_url, api_key, model, timeout, max_retries, reasoning_effort=reasoning_effort,
                         on_retry=on_retry)
    if api == "responses":
        from jobs.agent.responses_model import ResponsesModel

        return ResponsesModel(base_url, api_key, model, reasoning_effort, timeout, max_retries, on_retry=on_retry)
    raise ValueError(f"the model API must be one of {', '.join(API_KINDS)}, not {api!r}")


def default_api(base_url: str | None) -> str:
    """Responses for OpenAI itself (codex models live only there), Chat Completions for everything else."""
    host = urlparse(base_url or DEFAULT_BASE_URL).hostname or ""
    return "responses" if host == "api.openai.com" else "chat"


class ChatModel:
    """One model at one OpenAI-compatible endpoint, called with the full conversation each time."""

    def __init__(self, base_url: str | None, api_key: str, model: str, timeout: float = 120,
                 max_retries: int = 2, *, reasoning_effort: str | None = None,
                 on_retry: Callable[[str], None] | None = None, sleep: Callable[[float], None] = time.sleep):
        self.model, self.reasoning_effort = model, reasoning_effort
        self.endpoint = Endpoint(base_url, model, timeout, max_retries, on_retry, sleep, api="chat")
        self.base_url = self.endpoint.base_url
        # Our own retries, not the client's: each wait must be reported to the run log.
        self.client = openai.OpenAI(base_url=self.base_url, api_key=api_key, timeout=timeout, max_retries=0)

    def complete(self, messages: list[dict], tools: list[dict]) -> ModelReply:
        wire = [{k: v for k, v in m.items() if k in WIRE_KEYS} for m in messages]
        extra = {"reasoning_effort": self.reasoning_effort} if self.reasoning_effort else {}
        if tools:  # some servers refuse an empty list
            extra["tools"] = tools
        response = self.endpoint.call(lambda: self.client.chat.completions.create(
            model=self.model, messages=wire, **extra))
        if not response.choices:
            raise ModelError(f"the model API at {self.base_url} answered without a choice: "
                             "check that CODEXBOT_MODEL names a chat model")
        return parse_chat_reply(response.choices[0].message, response.usage)


def parse_chat_reply(message, usage) -> ModelReply:
    """A ModelReply from the client's message and usage objects."""
    functions = [call for call in message.tool_calls or [] if call.type == "function"]
    calls = [parse_tool_call(call.id, call.function.name, call.function.arguments) for call in functions]
    cached = getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", 0) or 0
    counts = Usage(usage.prompt_tokens, usage.completion_tokens, cached) if usage else Usage()
    return ModelReply(message.content, calls, counts, assistant_message(message.content, calls))


def assistant_message(content: str | None, calls: list[ToolCall], reasoning: list[dict] | None = None) -> dict:
    """The assistant turn in the loop's form: Chat Completions' shape, plus Responses reasoning items if any."""
    message: dict = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [{"id": call.id, "type": "function",
                                  "function": {"name": call.name, "arguments": call.raw}} for call in calls]
    if reasoning:
        message["reasoning"] = reasoning
    return message


def parse_tool_call(call_id: str, name: str, raw: str | None) -> ToolCall:
    """A ToolCall whose arguments are a dict, or an error the model can act on."""
    raw = raw or "{}"
    try:
        arguments = json.loads(raw)
    except json.JSONDecodeError as error:
        return ToolCall(call_id, name, {}, raw=raw,
                        error=f"the arguments of {name} are not valid JSON ({error.msg} at "
                              f"character {error.pos}): send one JSON object")
    if not isinstance(arguments, dict):
        return ToolCall(call_id, name, {}, raw=raw,
                        error=f"the arguments of {name} must be a JSON object, not {type(arguments).__name__}")
    return ToolCall(call_id, name, arguments, raw=raw)
