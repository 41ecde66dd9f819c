"""One tiny tool-calling request: does the configured server and model call tools at all (`codexbot check`)?

A server that accepts `tools` but never calls them ends every run after two steps; this says so before a
run does, with the usual fix for each server (README: the table of model servers).
"""

from __future__ import annotations

import time

from jobs.agent.calls import ModelError, calls_until
from jobs.agent.model import Model

PROBE_TOOL = {"type": "function", "function": {
    "name": "report_ready", "description": "Report that you can call tools.",
    "parameters": {"type": "object", "properties": {"word": {"type": "string", "description": "the word ready"}},
                   "required": ["word"]}}}
PROBE_MESSAGES = [
    {"role": "system", "content": "You are checking that tool calls work. Answer only by calling a tool."},
    {"role": "user", "content": 'Call the tool report_ready with {"word": "ready"}.'},
]
NO_TOOLS_FIX = ("the agent cannot work without tool calls: llama-server needs --jinja, vLLM "
                "--enable-auto-tool-choice --tool-call-parser, llama-cpp-python --chat_format "
                "chatml-function-calling, Ollama a model with tools (README: model servers)")


class NoToolCalls(Exception):
    """The model answered the probe without calling a tool; the message says what to try."""


def probe_tools(model: Model, seconds: float) -> str:
    """What the probe showed, as the end of a check line; raises NoToolCalls or ModelError when it failed."""
    started = time.monotonic()
    with calls_until(started + seconds):
        reply = model.complete(PROBE_MESSAGES, [PROBE_TOOL])
    took = time.monotonic() - started
    if reply.tool_calls:
        call = reply.tool_calls[0]
        broken = f", though its arguments were not valid ({call.error})" if call.error else ""
        return f"it called a tool ({call.name}) in {took:.1f} s{broken}"
    said = " ".join((reply.content or "").split())[:80]
    if reply.cut_off:
        raise NoToolCalls(f"the model's answer reached its length limit before any tool call ({said!r}): "
                          "run the check again, or lower CODEXBOT_REASONING_EFFORT")
    raise NoToolCalls(f"{getattr(model, 'model', 'the model')} answered without calling the tool it was asked to "
                      f"call ({said!r}): {NO_TOOLS_FIX}")


__all__ = ["ModelError", "NoToolCalls", "probe_tools"]
