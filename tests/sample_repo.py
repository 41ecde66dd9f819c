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
