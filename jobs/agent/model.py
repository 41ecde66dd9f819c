"""What the loop needs from a model: one call, complete(messages, tools) -> ModelReply, and the reply's shapes."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlparse

from jobs.agent.calls import DEFAULT_BASE_URL, ModelError  # noqa: F401  (ModelError is part of this protocol)

__all__ = ["API_KINDS", "Model", "ModelError", "ModelReply", "ToolCall", "Usage", "default_api"]
API_KINDS = ("responses", "chat")


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
    cut_off: bool = False  # the answer hit CODEXBOT_MODEL_MAX_TOKENS before it ended


class Model(Protocol):
    """All the loop knows of a model: its name (for prices) and one call with the whole conversation."""

    model: str

    def complete(self, messages: list[dict], tools: list[dict]) -> ModelReply: ...

    def context_window(self) -> int | None:
        """Tokens the server says the model can hold (prompt and answer), or None when it does not say."""


def default_api(base_url: str | None) -> str:
    """Responses for OpenAI itself (codex models live only there), Chat Completions for everything else."""
    host = urlparse(base_url or DEFAULT_BASE_URL).hostname or ""
    return "responses" if host == "api.openai.com" else "chat"


def assistant_message(content: str | None, calls: list[ToolCall], reasoning: list[dict] | None = None) -> dict:
    """The assistant turn in the loop's form: Chat Completions' shape, plus Responses reasoning items if any.

    The content is "" rather than null even beside tool calls: llama.cpp-based servers validate it as a string
    and refuse the whole conversation otherwise (a missing key fails there too).
    """
    message: dict = {"role": "assistant", "content": content or ""}
    if calls:
        message["tool_calls"] = [{"id": call.id, "type": "function",
                                  "function": {"name": call.name, "arguments": call.raw}} for call in calls]
    if reasoning:
        message["reasoning"] = reasoning
    return message


def parse_tool_call(call_id: str | None, name: str, raw) -> ToolCall:
    """A ToolCall whose arguments are a dict, or an error the model can act on.

    Lenient where small models slip: raw newlines and tabs inside JSON strings are accepted (strict=False),
    arguments already decoded to an object (some servers) are taken as they are, and a call without an id
    gets one, so its result can still be sent back.
    """
    call_id = call_id or "call_" + uuid.uuid4().hex[:24]
    if isinstance(raw, dict):
        return ToolCall(call_id, name, raw, raw=json.dumps(raw))
    raw = raw if isinstance(raw, str) and raw.strip() else "{}"
    try:
        arguments = json.loads(raw, strict=False)
    except json.JSONDecodeError as error:
        return ToolCall(call_id, name, {}, raw=raw,
                        error=f"the arguments of {name} are not valid JSON ({error.msg} at "
                              f"character {error.pos}): send one JSON object, with quotes and backslashes "
                              "inside strings escaped")
    if not isinstance(arguments, dict):
        return ToolCall(call_id, name, {}, raw=raw,
                        error=f"the arguments of {name} must be a JSON object, not {type(arguments).__name__}")
    return ToolCall(call_id, name, arguments, raw=raw)


_TAGGED = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.DOTALL)


def calls_in_text(content: str | None) -> tuple[str | None, list[ToolCall]]:
    """Tool calls a server left in the text instead of `tool_calls`, and the text without them.

    Two shapes are taken: Hermes/Qwen's `<tool_call>{"name", "arguments"}</tool_call>` blocks (servers without
    a tool-call parser pass them through), and a reply that is nothing but one such JSON object (Llama 3's
    format). Anything else stays text.
    """
    text = (content or "").strip()
    blocks = _TAGGED.findall(text)
    if not blocks and text.startswith("{") and text.endswith("}"):
        blocks, text = [text], ""
    calls = []
    for block in blocks:
        try:
            found = json.loads(block, strict=False)
        except json.JSONDecodeError:
            return content, []
        if not isinstance(found, dict) or not isinstance(found.get("name"), str):
            return content, []
        arguments = found.get("arguments", found.get("parameters", {}))
        calls.append(parse_tool_call(None, found["name"], arguments if isinstance(arguments, (dict, str)) else {}))
    return (_TAGGED.sub("", text).strip() or None) if calls else content, calls
