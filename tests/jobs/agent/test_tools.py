"""The agent's file tools: apply_patch (pure Python, host side) and search (in the real bwrap sandbox)."""

from __future__ import annotations

import os

import pytest

from jobs.agent.model import parse_tool_call
from jobs.agent.tools import Toolbox
from jobs.run.wiring import make_sandbox

CALC = "".join(f"line {n}\n" for n in range(1, 21))


@pytest.fixture
def box(tmp_path):
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "calc.txt").write_text(CALC)
    (workspace / "src").mkdir()
    (workspace / "src" / "app.py").write_text("def main():\n    return 'Hello'\n")
    return Toolbox(make_sandbox("bwrap", workspace))


def run(box: Toolbox, name: str, **arguments):
    import json

    return box.execute(parse_tool_call("call_1", name, json.dumps(arguments)), timeout=30)


def hunk(old_start: int, body: str, path: str = "calc.txt") -> str:
    return f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -{old_start},3 +{old_start},3 @@\n{body}"


def test_a_unified_diff_is_applied(box):
    result = run(box, "apply_patch", patch=hunk(4, " line 4\n-line 5\n+line five\n line 6\n"))
    assert result.output == "patch applied: patched calc.txt" and not result.failed
    assert (box.workspace / "calc.txt").read_text() == CALC.replace("line 5\n", "line five\n")


def test_wrong_line_numbers_and_whitespace_are_tolerated(box):
    patch = hunk(12, " line 4\n-line 5\n+line five\n line 6\n") + "@@ -15,2 +15,2 @@\n-  line   15\n+line fifteen\n"
    result = run(box, "apply_patch", patch=patch)
    assert not result.failed, result.output
    text = (box.workspace / "calc.txt").read_text()
    assert "line five\n" in text and "line fifteen\nline 16\n" in text


def test_a_patch_that_does_not_fit_shows_the_nearest_context_and_changes_nothing(box):
    other = "--- a/src/app.py\n+++ b/src/app.py\n@@ -1,2 +1,2 @@\n def main():\n-    return 'Hello'\n+    return 'Hi'\n"
    patch = other + hunk(9, " line 9\n-line 10 of the old file\n+line ten\n line 11\n")
    result = run(box, "apply_patch", patch=patch)
    assert result.failed and result.output.startswith("error: the patch was not applied: hunk 1 (@@ -9,3 +9,3 @@) "
                                                     "does not apply to calc.txt")
    assert "The nearest match is at line 9 (2 of 3 lines agree)" in result.output
    assert "     9\tline 9\n    10\tline 10\n    11\tline 11" in result.output
    assert (box.workspace / "src" / "app.py").read_text() == "def main():\n    return 'Hello'\n"  # all or nothing


def test_files_are_created_and_deleted(box):
    patch = ("--- /dev/null\n+++ b/docs/new.md\n@@ -0,0 +1,2 @@\n+# New\n+text\n"
             "--- a/src/app.py\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-def main():\n-    return 'Hello'\n")
    result = run(box, "apply_patch", patch=patch)
    assert result.output == "patch applied: created docs/new.md, deleted src/app.py"
    assert (box.workspace / "docs" / "new.md").read_text() == "# New\ntext\n"
    assert not (box.workspace / "src" / "app.py").exists()
    again = run(box, "apply_patch", patch="--- /dev/null\n+++ b/docs/new.md\n@@ -0,0 +1 @@\n+x\n")
    assert again.output == "error: the patch was not applied: docs/new.md already exists: patch it with " \
                           "'--- a/docs/new.md' instead"


def test_missing_newline_at_end_and_crlf_are_kept(box):
    (box.workspace / "win.txt").write_bytes(b"one\r\ntwo\r\nthree\r\n")
    (box.workspace / "bare.txt").write_text("alpha\nbeta")
    patch = ("--- a/win.txt\n+++ b/win.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n"
             "--- a/bare.txt\n+++ b/bare.txt\n@@ -1,2 +1,2 @@\n alpha\n-beta\n\\ No newline at end of file\n"
             "+gamma\n\\ No newline at end of file\n")
    assert not run(box, "apply_patch", patch=patch).failed
    assert (box.workspace / "win.txt").read_bytes() == b"one\r\nTWO\r\nthree\r\n"
    assert (box.workspace / "bare.txt").read_text() == "alpha\ngamma"


def test_patches_cannot_leave_the_workspace_or_touch_git(box, tmp_path):
    (tmp_path / "outside.txt").write_text("host\n")
    os.symlink(tmp_path, box.workspace / "escape")
    (box.workspace / ".git").mkdir()
    for path, refusal in [("../outside.txt", "contains '..'"), ("escape/outside.txt", "through a symbolic link"),
                          (".git/config", "is inside .git"), (str(tmp_path / "outside.txt"), "is outside /workspace")]:
        patch = f"--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-host\n+planted\n"
        result = run(box, "apply_patch", patch=patch.replace("a//", "/").replace("b//", "/"))
        assert result.failed and refusal in result.output, result.output
    assert (tmp_path / "outside.txt").read_text() == "host\n"


def test_text_that_is_not_a_diff_is_explained(box):
    result = run(box, "apply_patch", patch="please change line 5")
    assert result.output.startswith("error: the patch was not applied: no file changes found: send a unified diff")


def test_search_finds_matches_with_line_numbers_and_skips_git(box):
    (box.workspace / ".git").mkdir()
    (box.workspace / ".git" / "HEAD").write_text("return 'Hello'\n")
    result = run(box, "search", pattern="return '(Hello|Bye)'")
    assert result.output == "src/app.py:2:    return 'Hello'\n"
    assert run(box, "search", pattern="hello", ignore_case=True, glob="*.py").output == "src/app.py:2:    return 'Hello'\n"
    assert run(box, "search", pattern="hello", path="src").output == "no matches for 'hello' in src"
    assert "is outside /workspace" in run(box, "search", pattern="x", path="/etc").output
    broken = run(box, "search", pattern="(unclosed")
    assert broken.failed and broken.output.startswith("search failed (exit 2)")


def test_read_file_refuses_binary_files_and_clamps_ranges(box):
    (box.workspace / "blob.bin").write_bytes(b"\x7fELF\x00\x01")
    assert run(box, "read_file", path="blob.bin").output == "error: blob.bin is a binary file (6 bytes): " \
                                                            "use shell to inspect it"
    assert run(box, "read_file", path="calc.txt", start_line=19, end_line=99).output == \
        "calc.txt: lines 19-20 of 20\n    19\tline 19\n    20\tline 20"
