"""The coding agent: a small loop that asks a model for tool calls and runs them in a sandbox."""

from jobs.agent.loop import Agent, AgentResult, Limits
from jobs.agent.model import ChatModel, ModelError, ModelReply, ToolCall, Usage

__all__ = ["Agent", "AgentResult", "ChatModel", "Limits", "ModelError", "ModelReply", "ToolCall", "Usage"]
