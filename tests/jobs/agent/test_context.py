"""Context management: a long run's prompt stays bounded, keeps the task and the latest state, and stays valid."""

from __future__ import annotations

import copy

import pytest

from jobs.agent import Limits
from jobs.agent.context import Context
from jobs.agent.transcript import request_messages
from tests.jobs.agent.test_loop import call, run_agent, workspace  # noqa: F401 (fixture)

STEPS = 40
LOUD = "python3 -c \"print('{n}' * 4000)\""


def loud_script(steps: int) -> list[dict]:
    """A model that prints 4,000 characters a step, and writes a 3,000-character file now and then."""
    script = []
    for n in range(steps - 1):
        calls = [call("shell", command=LOUD.format(n=n % 10))]
        if n % 5 == 0:
            calls.append(call("write_file", path=f"notes/{n}.txt", content="w" * 3000))
        script.append({"tool_calls": calls})
    return script + [{"tool_calls": [call("finish", summary="done")]}]


def sent_size(request: dict) -> int:
    """Characters of text in a request of either API."""
    items = request.get("messages") or request["input"]
    return sum(len(str(item.get("content") or item.get("output") or item.get("arguments") or ""))
               + sum(len(c["function"]["arguments"]) for c in item.get("tool_calls") or []) for item in items)


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_long_run_keeps_the_prompt_bounded_and_valid(workspace, api):  # noqa: F811
    limits = Limits(max_steps=STEPS, context_tokens=5_000)
    result, emu, events = run_agent(workspace, loud_script(STEPS), limits=limits, task="make noise", api=api)
    assert result.finished and result.steps == STEPS  # the emulator checked every call has its output
    sizes = [sent_size(request) for request in emu.requests]
    assert max(sizes[10:]) < 5_000 * 4 * 1.3
    late = sizes[15:]
    assert max(late) / min(late) < 1.35
    last = emu.requests[-1]
    text = str(last)
    assert "make noise" in text and "older messages were removed" in text
    assert "8" * 4000 in text  # the latest output is whole
    assert any("shortened older messages" in line for line in events)
    for step in (1, 20, STEPS):
        sent = request_messages(result.transcript, step)
        if api == "chat":
            assert sent == emu.requests[step - 1]["messages"]
        assert sent[0]["role"] == "system" and "make noise" in sent[1]["content"]


def test_without_a_budget_nothing_is_shortened(workspace):  # noqa: F811
    limits = Limits(max_steps=12, context_tokens=None)
    result, emu, events = run_agent(workspace, loud_script(12), limits=limits)
    sizes = [sent_size(request) for request in emu.requests]
    assert sizes == sorted(sizes) and sizes[-1] > 11 * 4000


def test_old_tool_output_goes_first_then_whole_steps_and_messages_are_never_changed_in_place():
    context = Context(budget_tokens=1_500)
    context.append({"role": "system", "content": "rules " * 50})
    context.append({"role": "user", "content": "the task"})
    for n in range(8):
        context.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": f"c{n}", "type": "function", "function": {"name": "shell", "arguments": '{"command": "ls"}'}}]})
        context.append({"role": "tool", "tool_call_id": f"c{n}", "content": str(n) * 1200})
    before = copy.deepcopy(context.messages)
    originals = list(context.messages)
    assert context.fit() and context.tokens <= 1_500 * 0.97 and context.dropped > 0
    assert originals == before  # the dicts that were sent stay as they were
    assert context.messages[0] == before[0] and context.messages[1]["content"].startswith("the task")
    tools = [m for m in context.messages if m["role"] == "tool"]
    assert [len(m["content"]) for m in tools[-3:]] == [1200, 1200, 1200]  # the latest state is whole
    assert all("dropped to keep the conversation small" in m["content"] for m in tools[:-3])
    roles = [m["role"] for m in context.messages[2:]]
    assert roles == ["assistant", "tool"] * (len(roles) // 2)  # whole steps: every call keeps its output
    assert not context.fit()  # under budget: nothing to do
