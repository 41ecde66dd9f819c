"""ChatModel: the OpenAI Chat Completions API with tools behind one call, its failures turned into sentences."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import openai

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class ModelError(Exception):
    """The model API could not answer; the message says what to fix."""


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict
    error: str | None = None  # set when the model sent arguments that are not a JSON object


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class ModelReply:
    content: str | None
    tool_calls: list[ToolCall]
    usage: Usage
    message: dict = field(default_factory=dict)  # the assistant message, as the API wants it back


class ChatModel:
    """One model at one OpenAI-compatible endpoint, called with the full conversation each time."""

    def __init__(self, base_url: str | None, api_key: str, model: str, timeout: float = 120,
                 max_retries: int = 2):
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self.client = openai.OpenAI(base_url=self.base_url, api_key=api_key, timeout=timeout,
                                    max_retries=max_retries)

    def complete(self, messages: list[dict], tools: list[dict]) -> ModelReply:
        try:
            response = self.client.chat.completions.create(model=self.model, messages=messages, tools=tools)
        except openai.APIError as error:
            raise ModelError(self.explain(error)) from error
        if not response.choices:
            raise ModelError(f"the model API at {self.base_url} answered without a choice: "
                             "check that CODEXBOT_MODEL names a chat model")
        return parse_reply(response.choices[0].message, response.usage)

    def explain(self, error: openai.APIError) -> str:
        """The one sentence a user needs for a failed call."""
        if isinstance(error, openai.APITimeoutError):
            return (f"the model API at {self.base_url} did not answer within {self.timeout:g} s "
                    f"(tried {self.max_retries + 1} times): check OPENAI_BASE_URL or try again later")
        if isinstance(error, openai.APIConnectionError):
            return f"could not connect to the model API at {self.base_url}: check OPENAI_BASE_URL and the network"
        if isinstance(error, openai.AuthenticationError):
            return "the model API rejected the key: check OPENAI_API_KEY"
        if isinstance(error, openai.NotFoundError):
            return f"model {self.model} was not found at {self.base_url}: check CODEXBOT_MODEL"
        status = getattr(error, "status_code", None)
        detail = _detail(error)
        if isinstance(error, openai.PermissionDeniedError):
            return f"the model API refused this key access to {self.model} (HTTP 403): {detail}"
        if isinstance(error, openai.RateLimitError):
            return (f"the model API is rate limiting this key (HTTP 429) after {self.max_retries} retries: "
                    f"{detail}; wait or raise the quota")
        if status is not None and status >= 500:
            return f"the model API at {self.base_url} failed (HTTP {status}): {detail}"
        return f"the model API at {self.base_url} refused the request (HTTP {status}): {detail}"


def _detail(error: openai.APIError) -> str:
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"].rstrip(".")
    return error.message


def parse_reply(message, usage) -> ModelReply:
    """A ModelReply from the client's message and usage objects."""
    calls = [parse_tool_call(call) for call in message.tool_calls or [] if call.type == "function"]
    wire = {"role": "assistant", "content": message.content}
    if calls:
        wire["tool_calls"] = [{"id": call.id, "type": "function",
                               "function": {"name": call.function.name, "arguments": call.function.arguments}}
                              for call in message.tool_calls if call.type == "function"]
    counts = Usage(usage.prompt_tokens, usage.completion_tokens) if usage else Usage()
    return ModelReply(content=message.content, tool_calls=calls, usage=counts, message=wire)


def parse_tool_call(call) -> ToolCall:
    raw = call.function.arguments or "{}"
    try:
        arguments = json.loads(raw)
    except json.JSONDecodeError as error:
        return ToolCall(call.id, call.function.name, {},
                        error=f"the arguments of {call.function.name} are not valid JSON ({error.msg} at "
                              f"character {error.pos}): send one JSON object")
    if not isinstance(arguments, dict):
        return ToolCall(call.id, call.function.name, {},
                        error=f"the arguments of {call.function.name} must be a JSON object, "
                              f"not {type(arguments).__name__}")
    return ToolCall(call.id, call.function.name, arguments)
