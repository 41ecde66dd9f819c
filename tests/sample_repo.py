"""The small sample repository with a failing test, and a recorded model script that fixes it."""

from __future__ import annotations

REPO = "octo/calc"

FILES = {
    "README.md": "# calc\n\nA tiny calculator.\n",
    "calc.py": 'def add(a, b):\n    """Return the sum of a and b."""\n    return a - b\n',
    "tests/test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
    "conftest.py": "",  # puts the repository root on sys.path for pytest
}

FIXED_CALC = 'def add(a, b):\n    """Return the sum of a and b."""\n    return a + b\n'

NOT_A_FIX = [  # the agent changes a file but not the bug: the tests still fail afterwards
    {"tool_calls": [{"name": "write_file", "arguments": {"path": "calc.py", "content": FILES["calc.py"]
                                                         + "\n\ndef sub(a, b):\n    return a - b\n"}}]},
    {"tool_calls": [{"name": "finish", "arguments": {"summary": "Added sub."}}]}]

SUMMARY = "Fix `add`: it subtracted instead of adding, so `test_add` failed. The test passes now."


def fix_script() -> list[dict]:
    """What a model would answer, step by step, to fix the failing test (tool calls of the agent)."""
    return [
        {"content": "Let me run the tests first.", "tool_calls": [{"name": "shell", "arguments": {"command": "python3 -m pytest -q"}}]},
        {"tool_calls": [{"name": "read_file", "arguments": {"path": "calc.py"}}]},
        {"tool_calls": [{"name": "write_file", "arguments": {"path": "calc.py", "content": FIXED_CALC}}]},
        {"tool_calls": [{"name": "shell", "arguments": {"command": "python3 -m pytest -q"}}]},
        {"tool_calls": [{"name": "finish", "arguments": {"summary": SUMMARY}}]},
    ]


def fix_answer(body: dict) -> dict:
    """The model's turn in any of many concurrent runs: write the fix first, finish once a tool result is in
    the conversation (a script of these serves runs in any interleaving)."""
    items = body.get("messages") or body.get("input") or []
    done = any(isinstance(item, dict) and (item.get("role") == "tool" or item.get("type") == "function_call_output")
               for item in items)
    return fix_script()[4 if done else 2]
