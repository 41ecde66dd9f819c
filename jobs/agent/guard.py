"""Safeguards against a stuck or runaway model: the same failing call over and over, and oversized replies."""

from __future__ import annotations

import json
from dataclasses import replace

from jobs.agent.context import shorten_call
from jobs.agent.model import ModelReply, ToolCall
from jobs.agent.tools import ToolResult, elide

REPEAT_WARN = 3  # the same failing call this many times: tell the model
REPEAT_STOP = 5  # this many: end the run
MAX_REPLY_CHARS = 20_000  # of an answer's text kept in the conversation
MAX_ARGUMENT_CHARS = 500_000  # of one tool call's arguments; more is refused


class RepeatGuard:
    """Counts failures of each distinct call (tool and arguments); a success of that call resets its count."""

    def __init__(self, warn_after: int = REPEAT_WARN, stop_after: int = REPEAT_STOP):
        self.warn_after, self.stop_after = warn_after, stop_after
        self.failures: dict[str, int] = {}

    def observe(self, call: ToolCall, result: ToolResult) -> tuple[ToolResult, str | None]:
        """The result, with a warning added when the call keeps failing; and a reason to stop, if it is time."""
        key = call.name + "\0" + (json.dumps(call.arguments, sort_keys=True) if not call.error else call.raw)
        if not result.failed:
            self.failures.pop(key, None)
            return result, None
        count = self.failures[key] = self.failures.get(key, 0) + 1
        if count >= self.stop_after:
            return result, f"the agent repeated the same failing {call.name} call {count} times: {describe(call)}"
        if count >= self.warn_after:
            warning = (f"\n\n[codexbot: this exact {call.name} call has now failed {count} times. Running it again "
                       f"will not change the result; try a different approach. After {self.stop_after} the run "
                       "stops.]")
            return replace(result, output=result.output + warning), None
        return result, None


def describe(call: ToolCall) -> str:
    text = call.arguments.get("command") if call.name == "shell" else None
    text = text if isinstance(text, str) else call.raw
    line = " ".join(text.split())
    return line if len(line) <= 120 else line[:119] + "…"


def cap_reply(reply: ModelReply) -> tuple[ModelReply, str | None]:
    """A reply fit to keep in the conversation: huge text elided, huge tool arguments refused."""
    notes = []
    content = reply.content
    if content and len(content) > MAX_REPLY_CHARS:
        content = elide(content, MAX_REPLY_CHARS)
        notes.append(f"the reply's text of {len(reply.content)} characters was cut to {MAX_REPLY_CHARS}")
    calls, refused = [], set()
    for call in reply.tool_calls:
        if len(call.raw) > MAX_ARGUMENT_CHARS:
            notes.append(f"{call.name} arguments of {len(call.raw)} characters were refused")
            refused.add(call.id)
            call = replace(call, arguments={}, error=f"the arguments of {call.name} are {len(call.raw)} characters, "
                           f"over the limit of {MAX_ARGUMENT_CHARS}: write large files in smaller parts")
        calls.append(call)
    if not notes:
        return reply, None
    message = {**reply.message, "content": content}
    if refused:
        message["tool_calls"] = [shorten_call(call) if call["id"] in refused else call
                                 for call in reply.message["tool_calls"]]
    return replace(reply, content=content, tool_calls=calls, message=message), "; ".join(notes)
