"""Pure helpers that shape a run's parts for the page: highlighted diff, transcript steps, test cases."""

from __future__ import annotations

import json
import time

from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer

MAX_SHOWN_OUTPUT = 8000
MAX_SHOWN_DIFF = 1_000_000
_FORMATTER = HtmlFormatter(cssclass="diff", nowrap=False)


def diff_styles() -> str:
    return _FORMATTER.get_style_defs(".diff")


def highlighted_diff(diff: str) -> Markup:
    """The diff as HTML; pygments escapes every character of it, so the untrusted text stays text."""
    if len(diff) > MAX_SHOWN_DIFF:
        diff = diff[:MAX_SHOWN_DIFF] + "\n[cut: the diff is too long to show here]\n"
    return Markup(highlight(diff, DiffLexer(), _FORMATTER))


def transcript_steps(transcript: dict | None) -> list[dict]:
    """Each step: the model's message, its tool calls with their (shortened) output, tokens, cost."""
    steps = []
    for step in (transcript or {}).get("steps", []):
        usage = step.get("usage") or {}
        calls = [{"name": call.get("name", ""), "arguments": _arguments(call.get("arguments")),
                  "output": shorten(str(call.get("output", ""))), "failed": bool(call.get("failed")),
                  "seconds": call.get("seconds", 0)} for call in step.get("tool_calls", [])]
        steps.append({"number": step.get("step"), "message": (step.get("response") or {}).get("content") or "",
                      "calls": calls, "prompt_tokens": usage.get("prompt_tokens", 0),
                      "completion_tokens": usage.get("completion_tokens", 0), "cost": step.get("cost") or 0})
    return steps


def _arguments(arguments) -> str:
    if isinstance(arguments, dict) and set(arguments) == {"command"}:
        return str(arguments["command"])
    return arguments if isinstance(arguments, str) else json.dumps(arguments, indent=1, ensure_ascii=False)


def shorten(text: str, limit: int = MAX_SHOWN_OUTPUT) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[… {len(text) - limit} characters left out …]\n{text[-half:]}"


def test_counts(cases: list[dict]) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for case in cases:
        counts[case["outcome"]] = counts.get(case["outcome"], 0) + 1
    return counts


def when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts)) if ts else ""


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"
