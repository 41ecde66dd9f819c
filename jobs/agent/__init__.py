"""The coding agent: a small loop that asks a model for tool calls and runs them in a sandbox.

Names are loaded on first use, so that settings can read the price table (jobs.agent.prices, pure data)
without pulling the model client into processes that never call a model.
"""

from importlib import import_module

_WHERE = {"Agent": "loop", "AgentResult": "loop", "Limits": "loop", "ChatModel": "chat_model", "ModelError": "model",
          "ModelReply": "model", "ToolCall": "model", "Usage": "model", "default_api": "model",
          "ScriptedModel": "scripted_model", "ResponsesModel": "responses_model"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'jobs.agent' has no attribute {name!r}")
    return getattr(import_module(f"jobs.agent.{_WHERE[name]}"), name)
