"""The comment grammar: what is and is not a /codex command."""

import pytest

from jobs.intake.commands import MAX_TASK_CHARS, parse_command


def test_task_text_and_following_lines():
    cmd = parse_command("Thanks!\n/codex fix the flaky test\nIt fails one run in ten.\n\nSee CI.")
    assert cmd.kind == "task"
    assert cmd.text == "fix the flaky test\nIt fails one run in ten.\n\nSee CI."
    assert (cmd.attempts, cmd.model, cmd.errors) == (1, None, ())


@pytest.mark.parametrize("word", ["help", "status", "cancel", "retry", "HELP", "Status"])
def test_control_words(word):
    cmd = parse_command(f"/codex {word}")
    assert cmd.kind == word.lower()


def test_control_word_followed_by_more_words_is_a_task():
    assert parse_command("/codex help me fix the parser").kind == "task"
    assert parse_command("/codex retry the upload when it fails").text == "retry the upload when it fails"


@pytest.mark.parametrize("body", [
    "/codex --attempts 3 --model gpt-5 fix it",
    "/codex fix it --attempts=3 --model=gpt-5",
    "/codex fix --model gpt-5 it --attempts 3",
])
def test_options_anywhere_in_the_first_line(body):
    cmd = parse_command(body)
    assert (cmd.kind, cmd.text, cmd.attempts, cmd.model) == ("task", "fix it", 3, "gpt-5")


@pytest.mark.parametrize("body", ["/codex --fresh fix it", "/codex fix --fresh it", "/codex fix it --fresh"])
def test_fresh_is_a_flag_that_takes_no_word_of_the_task(body):
    cmd = parse_command(body)
    assert (cmd.kind, cmd.text, cmd.fresh) == ("task", "fix it", True)
    assert parse_command("/codex fix it").fresh is False


def test_fresh_with_a_value_is_help_with_the_reason():
    cmd = parse_command("/codex fix it --fresh=yes")
    assert cmd.kind == "help" and cmd.errors == ("`--fresh` takes no value",)


@pytest.mark.parametrize("value", ["0", "6", "x", "-1", "2.5", ""])
def test_attempts_out_of_range_becomes_help_with_the_reason(value):
    cmd = parse_command(f"/codex fix it --attempts {value}".rstrip())
    assert cmd.kind == "help"
    assert "--attempts" in cmd.errors[0] and "1 to 5" in cmd.errors[0]


def test_bad_model_name_becomes_help():
    cmd = parse_command("/codex fix it --model $(rm -rf /)")
    assert cmd.kind == "help" and "--model" in cmd.errors[0]


def test_option_given_twice_is_an_error():
    assert parse_command("/codex fix --attempts 2 --attempts 3").errors == ("`--attempts` is given twice",)


def test_unknown_options_stay_in_the_task_with_a_note():
    cmd = parse_command("/codex add a --dry-run flag to the CLI")
    assert cmd.kind == "task"
    assert cmd.text == "add a --dry-run flag to the CLI"
    assert "--dry-run" in cmd.notes[0]


def test_options_inside_code_spans_are_text():
    cmd = parse_command("/codex make `--attempts 9` a valid flag of `run`")
    assert cmd.kind == "task" and cmd.attempts == 1
    assert cmd.text == "make `--attempts 9` a valid flag of `run`"


@pytest.mark.parametrize("body", [
    "```\n/codex fix it\n```",
    "~~~~python\n/codex fix it\n~~~~",
    "```\n~~~\n/codex fix it\n```",
    "> /codex fix it",
    "  > /codex fix it",
    "    /codex fix it",
    "\t/codex fix it",
    "please run /codex fix it",
    "/codexfoo fix it",
    "/codex-fix it",
    "codex fix it",
    "",
    None,
])
def test_not_a_command(body):
    assert parse_command(body) is None


def test_command_after_a_closed_fence_counts():
    cmd = parse_command("```\n/codex ignored\n```\n/codex real task")
    assert cmd.text == "real task"


def test_first_command_wins_and_may_be_indented_up_to_three_spaces():
    assert parse_command("   /codex first\n/codex second").text == "first\n/codex second"


def test_bare_command_is_an_empty_task():
    cmd = parse_command("/codex")
    assert (cmd.kind, cmd.text) == ("task", "")
    assert parse_command("/codex   \r\n").text == ""


def test_case_insensitive_word_and_crlf():
    cmd = parse_command("/Codex Fix it\r\nmore\r\n")
    assert cmd.text == "Fix it\nmore"


def test_configured_word():
    assert parse_command("/codex fix", "/bot") is None
    assert parse_command("/bot fix", "/bot").text == "fix"


def test_control_and_bidi_characters_are_removed_with_a_note():
    cmd = parse_command("/codex fix \u202eevil\u202c it\x00\x07 now")
    assert cmd.text == "fix evil it now"
    assert any("control characters" in n for n in cmd.notes)


def test_odd_unicode_is_kept():
    cmd = parse_command("/codex überprüfe die Ausgabe 🚀 — 修复")
    assert cmd.text == "überprüfe die Ausgabe 🚀 — 修复"


def test_huge_body_becomes_help_and_is_bounded():
    cmd = parse_command("/codex " + "x" * (MAX_TASK_CHARS + 10))
    assert cmd.kind == "help" and "limit" in cmd.errors[0]
    assert len(cmd.text) <= MAX_TASK_CHARS


def test_options_on_a_control_word_are_noted():
    cmd = parse_command("/codex status --attempts 2")
    assert cmd.kind == "status" and "not used" in cmd.notes[0]
