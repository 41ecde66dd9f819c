"""ChatModel: any OpenAI-compatible Chat Completions endpoint behind the loop's one call.

Every request is one that the common servers accept (OpenAI, vLLM, llama.cpp's server, llama-cpp-python,
Ollama, LM Studio, LiteLLM, OpenRouter): `tool_choice: "auto"` whenever tools are sent (llama-cpp-python
ignores tools without it, vLLM refuses tools without it in older releases), assistant content "" never
null, and a cap on the answer's length, since several servers otherwise generate until the context is full.
"""

from __future__ import annotations

import time
from typing import Callable
from urllib.parse import urlparse

import openai

from jobs.agent.calls import Endpoint, ModelError
from jobs.agent.model import ModelReply, Usage, assistant_message, calls_in_text, parse_tool_call
from jobs.agent.window import answer_cap, ask_context_window

WIRE_KEYS = ("role", "content", "tool_calls", "tool_call_id", "name")  # what Chat Completions accepts
DEFAULT_MAX_TOKENS = 8192
# OpenAI's reasoning models refuse `max_tokens`; most other servers know only `max_tokens`.
NEW_CAP_HOSTS = ("api.openai.com",)
NEW_CAP_SUFFIXES = (".openai.azure.com",)


class ChatModel:
    """One model at one OpenAI-compatible endpoint, called with the full conversation each time."""

    def __init__(self, base_url: str | None, api_key: str, model: str, timeout: float = 120,
                 max_retries: int = 2, *, reasoning_effort: str | None = None, max_tokens: int | None = None,
                 on_retry: Callable[[str], None] | None = None, sleep: Callable[[float], None] = time.sleep):
        self.model, self.reasoning_effort = model, reasoning_effort
        self.max_tokens = max_tokens or DEFAULT_MAX_TOKENS
        self.endpoint = Endpoint(base_url, model, timeout, max_retries, on_retry, sleep, api="chat")
        self.base_url, self.api_key = self.endpoint.base_url, api_key
        self.cap_field = cap_field_for(self.base_url)
        self._window: int | None | bool = False  # False: not asked yet
        # Our own retries, not the client's: each wait must be reported to the run log.
        self.client = openai.OpenAI(base_url=self.base_url, api_key=api_key, timeout=timeout, max_retries=0)

    def context_window(self) -> int | None:
        if self._window is False:
            self._window = ask_context_window(self.base_url, self.api_key, self.model)
        return self._window or None

    def complete(self, messages: list[dict], tools: list[dict]) -> ModelReply:
        request = {"model": self.model, "messages": [wire_message(m) for m in messages]}
        if self.reasoning_effort:
            request["reasoning_effort"] = self.reasoning_effort
        if tools:  # some servers refuse an empty list
            request["tools"], request["tool_choice"] = tools, "auto"
        try:
            response = self.endpoint.call(lambda timeout: self._create(request, timeout))
        except ModelError as error:
            other = "max_tokens" if self.cap_field == "max_completion_tokens" else "max_completion_tokens"
            if f"'{self.cap_field}'" not in str(error.details) or other not in str(error.details):
                raise
            self.cap_field = other  # the server named the field it takes instead: once, then remembered
            response = self.endpoint.call(lambda timeout: self._create(request, timeout))
        if not response.choices:
            raise ModelError(f"the model API at {self.base_url} answered without a choice: "
                             "check that CODEXBOT_MODEL names a chat model")
        choice = response.choices[0]
        return parse_chat_reply(choice.message, response.usage, choice.finish_reason == "length")

    def _create(self, request: dict, timeout: float):
        cap = answer_cap(self.max_tokens, self.context_window(), request["messages"], request.get("tools"))
        return self.client.chat.completions.create(**request, **{self.cap_field: cap}, timeout=timeout)


def cap_field_for(base_url: str) -> str:
    """max_completion_tokens for OpenAI and Azure OpenAI (their reasoning models refuse the other), else
    max_tokens, the only name llama-cpp-python and older Ollama and vLLM releases read."""
    host = urlparse(base_url).hostname or ""
    return "max_completion_tokens" if host in NEW_CAP_HOSTS or host.endswith(NEW_CAP_SUFFIXES) else "max_tokens"


def wire_message(message: dict) -> dict:
    """A loop message as Chat Completions takes it: known keys only, and never a null assistant content."""
    wire = {key: value for key, value in message.items() if key in WIRE_KEYS}
    if wire.get("role") == "assistant" and wire.get("content") is None:
        wire["content"] = ""
    return wire


def parse_chat_reply(message, usage, cut_off: bool = False) -> ModelReply:
    """A ModelReply from the client's message and usage objects."""
    functions = [call for call in message.tool_calls or [] if getattr(call, "type", "function") == "function"]
    calls = [parse_tool_call(call.id, call.function.name, call.function.arguments) for call in functions]
    content = message.content
    if not calls:
        content, calls = calls_in_text(content)
    cached = getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", 0) or 0
    counts = Usage(usage.prompt_tokens or 0, usage.completion_tokens or 0, cached) if usage else Usage()
    return ModelReply(content, calls, counts, assistant_message(content, calls), cut_off)
