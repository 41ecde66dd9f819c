"""ChatModel: any OpenAI-compatible Chat Completions endpoint behind the loop's one call."""

from __future__ import annotations

import time
from typing import Callable

import openai

from jobs.agent.calls import Endpoint, ModelError
from jobs.agent.model import ModelReply, Usage, assistant_message, parse_tool_call

WIRE_KEYS = ("role", "content", "tool_calls", "tool_call_id", "name")  # what Chat Completions accepts


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
