"""What the pipeline reads and writes about a repository: .codexbot.toml, test counts, PR text, the tracking comment."""

import pytest

from jobs.repo.delta import delta
from jobs.report.texts import branch_name, commit_message, pull_request_body, run_cost
from jobs.repo.config import RepoConfigError, parse_repo_config
from jobs.repo.testing import TestResult, detect_test_command, parse_counts
from jobs.report.tracking import Progress, marker, render_help, render_tracking
from jobs.types import Command, Trigger


def trigger(**kw):
    base = dict(forge="github", event="issue_comment", source="comment", repo="o/r", repo_id=1, number=7,
                is_pull_request=False, title="t", author="alice", installation_id=1, command=Command("task", "fix it"))
    base.update(kw)
    return Trigger(**base)


def test_repo_config_defaults_and_values():
    assert parse_repo_config(None).test_command is None
    cfg = parse_repo_config('[setup]\ncommands = ["pip install -e ."]\n[test]\ncommand = "make test"\ntimeout = 60\n'
                            '[agent]\nmax_steps = 10\n[network]\nagent = true\n')
    assert (cfg.setup_commands, cfg.test_command, cfg.test_timeout, cfg.max_steps, cfg.agent_network) == \
        (("pip install -e .",), "make test", 60, 10, True)


@pytest.mark.parametrize("text, where", [
    ("[test\n", "not valid TOML"), ("test = 1", "[test] must be a table"), ('[setup]\ncommands = "x"', "[setup]"),
    ("[test]\ncommand = 3", "[test] command"), ("[agent]\nmax_steps = 0", "max_steps"),
    ("[network]\nagent = 'yes'", "[network] agent"),
])
def test_bad_repo_config_says_where(text, where):
    with pytest.raises(RepoConfigError, match=__import__("re").escape(where)):
        parse_repo_config(text)


def test_counts_from_pytest_and_plain_summaries():
    assert parse_counts("....\n=== 3 passed, 1 failed, 2 skipped in 0.1s ===") == {"passed": 3, "failed": 1, "errors": 0, "skipped": 2}
    assert parse_counts("1 failed, 1 error in 2s")["errors"] == 1
    assert parse_counts("nothing here") == {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}


def test_detect_test_command(tmp_path):
    assert detect_test_command(tmp_path, None) is None
    assert detect_test_command(tmp_path, "make check") == "make check"
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "test_x.py").write_text("")
    assert detect_test_command(tmp_path, None) is None
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text("")
    assert "pytest" in detect_test_command(tmp_path, None)


def test_pull_request_body_and_commit_message():
    tests = TestResult("pytest -q", 0, 3, 0, 0, 0, 1.2, "3 passed")
    body = pull_request_body(trigger(), "Fixed add.", tests, " calc.py | 2 +-", "http://bot/runs/x")
    assert "Fixes #7" in body and "3 passed, 0 failed" in body and "calc.py | 2 +-" in body and "http://bot/runs/x" in body
    assert "Fixes #" not in pull_request_body(trigger(is_pull_request=True), "s", None, "", "l")
    msg = commit_message(trigger(), "fix it", "Fixed add.\n\nMore.", "alice <alice@users.noreply.github.com>")
    assert msg.splitlines()[0] == "Fixed add." and msg.rstrip().endswith("Co-authored-by: alice <alice@users.noreply.github.com>")
    assert branch_name(trigger(), "0123456789abcdef") == "codex/7-01234567"


def test_tracking_comment_shows_the_phase_and_the_outcome():
    body = render_tracking(Progress("r1", "http://l", phase="tests"))
    assert body.startswith(marker("r1")) and "- [x] agent working" in body and "- [ ] tests" in body and "http://l" in body
    done = render_tracking(Progress("r1", "http://l", phase="done", outcome="failed", message="no access"))
    assert "failed" in done and "no access" in done


def test_help_lists_commands_and_errors():
    text = render_help("/codex", ("`--attempts` takes a number from 1 to 5, not `9`",))
    assert "could not start" in text and "/codex help" in text and "--attempts" in text
    assert "/codex review [focus]" in text and "/codex fix-ci" in text and "/codex pick N" in text
    assert "--models a,b" in text and "[review] auto" in text and "[ci] fix_attempts" in text


def test_the_cost_line_has_steps_tokens_dollars_and_time_per_phase():
    phases = [("queued", 0.0), ("checking out", 2.0), ("setting up", 3.5), ("agent working", 4.0), ("tests", 40.0)]
    assert run_cost(7, 10_000, 2_345, 0.0312, phases, 42.25) == (
        "7 steps · 12,345 tokens (10,000 in, 2,345 out) · $0.0312 · 40.2 s (checking out 1.5 s, setting up 0.5 s, "
        "agent working 36.0 s, tests 2.2 s)")
    assert "no price known for the model" in run_cost(1, 1, 1, 0.0, [], 0.0)


def test_test_output_cannot_put_live_markdown_into_the_pull_request():
    """A test that prints a TAP line built to close the code span (a closing keyword, a mention, an image)
    and a ``` line to end the output block: both stay code."""
    evil = "not ok 1 - x` Fixes #12 @acme/security ![t](https://evil.example/p.png) `y\n```\nFixes #13\n"
    before = TestResult("npm test", 0, 1, 0, 0, 0, 1.0, "ok 1 - x\n# pass 1\n")
    after = TestResult("npm test", 1, 0, 1, 0, 0, 1.0, evil + "# pass 0\n# fail 1\n")
    body = pull_request_body(trigger(number=5), "summary", after, "calc.py | 2 +-", "http://x", draft=True,
                             change=delta(before, after))
    [line] = [ln for ln in body.splitlines() if ln.startswith("Newly failing")]
    assert line == "Newly failing (1): `x Fixes #12 @acme/security ![t](https://evil.example/p.png) y`"
    assert "\n````text\n" in body and "\n````\n" in body  # the output's ``` cannot end its block
    assert "Fixes #5" not in body
