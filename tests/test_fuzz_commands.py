"""Property-based fuzzing of the command grammar: any comment text gives a storable Command or None, never an error."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
import time
import unicodedata
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from jobs.intake.commands import CONTROL_WORDS, MAX_ATTEMPTS, MAX_TASK_CHARS, PULL_WORDS, parse_command
from jobs.types import COMMAND_KINDS, Task, Trigger

pytestmark = pytest.mark.abuse
FUZZ = settings(max_examples=1500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
WORDS = ["/codex", "/CODEX", "/codexx", "codex", "/codex-bot", "--attempts", "--attempts=3", "--attempts 0",
         "--model", "--model=gpt-5", "--model a b", "--dry-run", "help", "status", "cancel", "retry", "`--attempts 2`",
         "```", "~~~", ">", "    ", "\t", "\n", "\r\n", "\r", "\u202e", "\u2066", "\x00", "\x1b[31m", "\ud800",
         "e\u0301", "x" * 300]
# comment bodies made of the grammar's own pieces, mixed with arbitrary text (surrogates and controls included)
BODIES = st.lists(st.sampled_from(WORDS) | st.text(st.characters(categories=["L", "N", "P", "Z", "S", "Cc", "Cf", "Cs"]),
                                                   max_size=12), max_size=30).map(" ".join) \
    | st.text(max_size=300) \
    | st.integers(MAX_TASK_CHARS - 5, MAX_TASK_CHARS + 50).map(lambda n: "/codex " + "y" * n)
_HIDDEN = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f]")


def _report(capsys, name: str, counts: Counter, started: float) -> None:
    with capsys.disabled():
        print(f"\n[fuzz] {name}: {sum(counts.values())} inputs in {time.monotonic() - started:.1f} s, "
              f"results {dict(sorted(counts.items()))}")


def _storable(command) -> None:
    """The command survives the trip through Redis the intake makes (UTF-8 JSON), and back."""
    trigger = Trigger(forge="github", event="issue_comment", source="comment", repo="o/r", repo_id=1, number=1,
                      is_pull_request=False, title="", author="a", installation_id=1, command=command)
    task = Task("r", "d", 0.0, trigger)
    text = task.to_json()
    assert Task.from_json(text.encode("utf-8")).trigger.command == command
    assert text == json.dumps(asdict(task), ensure_ascii=False, sort_keys=True)  # the fast path is the same JSON


def test_any_comment_gives_a_valid_command_or_none(capsys):
    counts: Counter = Counter()
    started = time.monotonic()

    @FUZZ
    @given(lead=st.sampled_from(["", "/codex ", "/codex", "  /codex ", "/ai ", "text\n/Bot_2 "]), rest=BODIES,
           word=st.sampled_from(["/codex", "/ai", "/Bot_2"]))
    def check(lead, rest, word):
        body = lead + rest
        command = parse_command(body, word)
        counts[command.kind if command else "none"] += 1
        if word.lower() not in body.lower():
            assert command is None
        if command is None:
            return
        assert command.kind in COMMAND_KINDS and 1 <= command.attempts <= MAX_ATTEMPTS
        assert len(command.text) <= MAX_TASK_CHARS
        assert not _HIDDEN.search(command.text)
        assert all(ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs") for ch in command.text)
        assert command.kind == "help" or not command.errors
        assert command.model is None or re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,99}", command.model)
        _storable(command)

    check()
    _report(capsys, "command grammar, arbitrary comments", counts, started)


def test_a_plain_task_comes_back_as_written(capsys):
    counts: Counter = Counter()
    started = time.monotonic()
    plain = st.text(st.characters(categories=["L", "N"], include_characters=" .,;:!?()'\""), min_size=1, max_size=200)

    @FUZZ
    @given(task=plain.filter(lambda t: t.split()[:1] and t.split()[0].lower() not in CONTROL_WORDS + PULL_WORDS))
    def check(task):
        command = parse_command(f"Some context first.\n\n/codex {task}\n", "/codex")
        expected = unicodedata.normalize("NFC", re.sub(r"[ \t]{2,}", " ", task)).strip()
        counts["task"] += 1
        assert command is not None and command.kind == "task" and command.text == expected

    check()
    _report(capsys, "command grammar, plain tasks", counts, started)


def test_commands_inside_code_blocks_and_quotes_are_never_commands(capsys):
    counts: Counter = Counter()
    started = time.monotonic()

    @FUZZ
    @given(inner=BODIES, fence=st.sampled_from(["```", "~~~", "````"]), quoted=BODIES)
    def check(inner, fence, quoted):
        lines = [line for line in inner.replace("\r", "\n").split("\n") if not line.lstrip(" ").startswith(fence[0] * 3)]
        body = f"{fence}\n/codex fix it\n" + "\n".join(lines) + f"\n{fence}\n> /codex {quoted.splitlines()[0] if quoted.splitlines() else ''}\n    /codex indented"
        counts["checked"] += 1
        assert parse_command(body, "/codex") is None

    check()
    _report(capsys, "command grammar, code blocks and quotes", counts, started)


def test_a_bad_option_value_is_quoted_without_what_cannot_be_stored():
    """Found by the fuzz test: an --attempts value with a lone surrogate went into the help reply as it was."""
    command = parse_command("/codex --attempts \ud8be\x0f`2 fix it", "/codex")
    assert command.kind == "help" and command.errors == ("`--attempts` takes a number from 1 to 5, not `'2`",)
    _storable(command)
