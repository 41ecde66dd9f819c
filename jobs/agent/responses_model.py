"""ResponsesModel: OpenAI's Responses API (where codex-tuned models are served) behind the loop's one call."""

from __future__ import annotations

import time
from typing import Callable

import openai

from jobs.agent.calls import Endpoint, ModelError
from jobs.agent.model import ModelReply, ToolCall, Usage, assistant_message, parse_tool_call
from jobs.agent.window import answer_cap, ask_context_window

# OpenAI's advice for reasoning models: reasoning counts against max_output_tokens, so leave it room.
DEFAULT_MAX_OUTPUT_TOKENS = 25_000


class ResponsesModel:
    """Sends the whole conversation as input items each time (store=False): no state kept on the server."""

    def __init__(self, base_url: str | None, api_key: str, model: str, reasoning_effort: str | None = None,
                 timeout: float = 120, max_retries: int = 4, *, max_tokens: int | None = None,
                 on_retry: Callable[[str], None] | None = None, sleep: Callable[[float], None] = time.sleep):
        self.model, self.reasoning_effort = model, reasoning_effort
        self.max_tokens = max_tokens or DEFAULT_MAX_OUTPUT_TOKENS
        self.endpoint = Endpoint(base_url, model, timeout, max_retries, on_retry, sleep, api="responses")
        self.base_url, self.api_key = self.endpoint.base_url, api_key
        self._window: int | None | bool = False  # False: not asked yet
        self.client = openai.OpenAI(base_url=self.base_url, api_key=api_key, timeout=timeout, max_retries=0)

    def context_window(self) -> int | None:
        if self._window is False:
            self._window = ask_context_window(self.base_url, self.api_key, self.model)
        return self._window or None

    def complete(self, messages: list[dict], tools: list[dict]) -> ModelReply:
        instructions, items = to_input(messages)
        request = {"model": self.model, "input": items, "store": False}
        if tools:
            request["tools"], request["tool_choice"] = [flat_tool(tool) for tool in tools], "auto"
        request["max_output_tokens"] = answer_cap(self.max_tokens, self.context_window(), instructions, items,
                                                  request.get("tools"))
        if instructions:
            request["instructions"] = instructions
        if self.reasoning_effort:
            # Without server-side state, reasoning can only be handed back to the model encrypted.
            request["reasoning"] = {"effort": self.reasoning_effort}
            request["include"] = ["reasoning.encrypted_content"]
        response = self.endpoint.call(lambda timeout: self.client.responses.create(**request, timeout=timeout))
        if response.status == "failed":
            reason = response.error.message if response.error else "no reason given"
            raise ModelError(f"the model API at {self.base_url} could not answer: {reason}")
        return parse_response(response)


def flat_tool(tool: dict) -> dict:
    """A Chat Completions tool schema in the Responses API's flat shape."""
    function = tool.get("function", tool)
    # strict defaults to true in this API, which would demand every optional argument.
    return {"type": "function", "name": function["name"], "description": function.get("description", ""),
            "parameters": function.get("parameters", {"type": "object"}), "strict": False}


def to_input(messages: list[dict]) -> tuple[str, list[dict]]:
    """The loop's chat-shaped messages as Responses instructions and input items."""
    instructions, items = "", []
    for message in messages:
        role = message["role"]
        if role == "system" and not instructions and not items:
            instructions = message["content"]
        elif role in ("system", "user"):
            items.append({"role": "developer" if role == "system" else "user", "content": message["content"]})
        elif role == "tool":
            items.append({"type": "function_call_output", "call_id": message["tool_call_id"],
                          "output": message["content"]})
        else:
            items.extend(assistant_items(message))
    return instructions, items


def assistant_items(message: dict) -> list[dict]:
    """An assistant turn as Responses items: reasoning handed back, then its text, then its function calls."""
    items = [item for item in message.get("reasoning") or [] if item.get("encrypted_content")]
    if message.get("content"):
        items.append({"role": "assistant", "content": message["content"]})
    for call in message.get("tool_calls") or []:
        items.append({"type": "function_call", "call_id": call["id"], "name": call["function"]["name"],
                      "arguments": call["function"]["arguments"]})
    return items


def parse_response(response) -> ModelReply:
    """A ModelReply from a Response: its text, its function calls, and reasoning to hand back."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    reasoning: list[dict] = []
    for item in response.output:
        if item.type == "message":
            texts += [part.text if part.type == "output_text" else f"(refused: {part.refusal})"
                      for part in item.content]
        elif item.type == "function_call":
            calls.append(parse_tool_call(item.call_id, item.name, item.arguments))
        elif item.type == "reasoning" and item.encrypted_content:
            reasoning.append({"type": "reasoning", "id": item.id, "summary": [s.model_dump() for s in item.summary],
                              "encrypted_content": item.encrypted_content})
    content = "\n".join(texts) or None
    usage = response.usage
    counts = Usage()
    if usage is not None:
        cached = getattr(usage.input_tokens_details, "cached_tokens", 0) or 0
        counts = Usage(usage.input_tokens, usage.output_tokens, cached)
    cut_off = (response.status == "incomplete"
               and getattr(response.incomplete_details, "reason", None) == "max_output_tokens")
    return ModelReply(content, calls, counts, assistant_message(content, calls, reasoning), cut_off)
