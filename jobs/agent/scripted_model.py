"""A model that answers from recorded responses: what `codexbot replay` and the benchmarks run the loop with."""

from __future__ import annotations

import json

from jobs.agent.context import message_size
from jobs.agent.model import ModelError, ModelReply, Usage, assistant_message, parse_tool_call


class ScriptExhausted(ModelError):
    """The loop asked for more answers than the recording holds."""


class ScriptedModel:
    """A model that answers from recorded responses in order, without network.

    A response is a transcript step's "response", or an emulator script item: a string, or a dict with
    `content`, `tool_calls` ([{"name", "arguments": dict or JSON string, "id"?}]) and optional `usage`.
    Without usage, prompt tokens are estimated at four characters a token, as the emulator does.
    """

    def __init__(self, responses: list, model: str = "scripted"):
        self.responses, self.model = list(responses), model
        self.calls = 0

    @classmethod
    def from_transcript(cls, transcript: dict) -> ScriptedModel:
        """The recorded answers, with their recorded usage so token and cost limits stop the replay alike."""
        script = [{**step["response"], "usage": step.get("usage")} for step in transcript["steps"]]
        return cls(script, transcript.get("model", "scripted"))

    def context_window(self) -> int | None:
        return None  # a recording has no server to ask

    def complete(self, messages: list[dict], tools: list[dict]) -> ModelReply:
        if self.calls >= len(self.responses):
            raise ScriptExhausted(f"the recorded script has only {len(self.responses)} answers")
        item = self.responses[self.calls]
        self.calls += 1
        item = {"content": item} if isinstance(item, str) else item
        calls = [parse_tool_call(call.get("id") or f"call_{self.calls}_{n}", call["name"], _raw(call["arguments"]))
                 for n, call in enumerate(item.get("tool_calls") or [])]
        content = item.get("content")
        usage = _usage(item["usage"]) if item.get("usage") else estimate_usage(messages, content, calls)
        return ModelReply(content, calls, usage, assistant_message(content, calls, item.get("reasoning")))


def _usage(recorded: dict) -> Usage:
    return Usage(**{key: recorded[key] for key in ("prompt_tokens", "completion_tokens", "cached_tokens")
                    if key in recorded})


def _raw(arguments) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def estimate_usage(messages: list[dict], content: str | None, calls) -> Usage:
    """Four characters a token, with a few tokens of framing for each message and call."""
    prompt = sum(message_size(message) for message in messages)
    answer = len(content or "") + sum(len(call.raw) for call in calls)
    return Usage(prompt // 4, answer // 4)


def transcript_from_script(script: list, task: str = "", model: str = "scripted") -> dict:
    """A minimal transcript holding only responses: what an emulator script is, as something replay() takes."""
    steps = [{"step": n, "response": {"content": item} if isinstance(item, str) else item}
             for n, item in enumerate(script, 1)]
    return {"version": 1, "model": model, "task": task, "instructions": "", "test_command": None,
            "messages": [], "steps": steps, "notes": [], "result": {}}
