"""A run's record, JSON-serialisable: every request as sent, every response, tool call, duration, tokens and cost.

Each distinct message is stored once in `messages`; a step's `request` lists the indexes of the messages
sent, in order, so a 200-step run does not store its conversation 200 times. The responses are what a
ScriptedModel needs to replay the run (jobs/replay.py).
"""

from __future__ import annotations

from jobs.agent.model import ModelReply, ToolCall, Usage
from jobs.agent.tools import ToolResult

VERSION = 1


class Transcript:
    """Collects the record while the loop runs; to_dict() is what AgentResult.transcript holds."""

    def __init__(self, **header):
        self.header = {"version": VERSION, **header}
        self.messages: list[dict] = []
        self.steps: list[dict] = []
        self.notes: list[str] = []
        self._index: dict[int, int] = {}  # id() of a message -> its place in messages (kept alive by the list)

    def request(self, messages: list[dict]) -> list[int]:
        """The indexes of the messages about to be sent, storing the ones not seen before."""
        index, refs = self._index, []
        for message in messages:
            place = index.get(id(message))
            if place is None:
                place = index[id(message)] = len(self.messages)
                self.messages.append(message)
            refs.append(place)
        return refs

    def add_step(self, number: int, request: list[int], reply: ModelReply, cost: float, seconds: float) -> dict:
        """Record one model call; the returned step record collects the tool calls that follow."""
        record = {"step": number, "request": request, "response": response_record(reply),
                  "usage": usage_record(reply.usage), "cost": cost, "model_seconds": round(seconds, 6),
                  "tool_calls": []}
        self.steps.append(record)
        return record

    @staticmethod
    def add_tool_call(record: dict, call: ToolCall, result: ToolResult, seconds: float) -> None:
        record["tool_calls"].append({"id": call.id, "name": call.name, "arguments": call.arguments,
                                     "output": result.output, "failed": result.failed,
                                     "seconds": round(seconds, 6)})

    def to_dict(self, outcome: dict) -> dict:
        return {**self.header, "messages": self.messages, "steps": self.steps, "notes": self.notes,
                "result": outcome}


def response_record(reply: ModelReply) -> dict:
    """The model's answer as received, enough to answer again from it."""
    record: dict = {"content": reply.content,
                    "tool_calls": [{"id": call.id, "name": call.name, "arguments": call.raw}
                                   for call in reply.tool_calls]}
    if reply.message.get("reasoning"):
        record["reasoning"] = reply.message["reasoning"]
    return record


def usage_record(usage: Usage) -> dict:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "cached_tokens": usage.cached_tokens}


def request_messages(transcript: dict, step: int) -> list[dict]:
    """The messages sent for a step (counted from 1), rebuilt from the stored indexes."""
    return [transcript["messages"][place] for place in transcript["steps"][step - 1]["request"]]
