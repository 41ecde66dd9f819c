"""Where a review comment can sit: the new side's lines of each file's hunks, read from git's own diff."""

import subprocess

from jobs.git.diff_lines import parse_anchors, review_diff

DIFF = """diff --git a/x.py b/x.py
index 1..2 100644
--- a/x.py
+++ b/x.py
@@ -1,3 +1,4 @@
 a
-b
+B
+++ C
 c
diff --git a/new.txt b/new.txt
new file mode 100644
--- /dev/null
+++ b/new.txt
@@ -0,0 +1,2 @@
+one
+--- two
diff --git a/gone.txt b/gone.txt
deleted file mode 100644
--- a/gone.txt
+++ /dev/null
@@ -1 +0,0 @@
-x
diff --git a/logo.png b/logo.png
Binary files a/logo.png and b/logo.png differ
"""


def test_added_and_context_lines_are_anchors_and_a_line_that_looks_like_a_header_is_a_line():
    anchors = parse_anchors(DIFF)
    assert anchors.files["x.py"].lines == {1: 1, 2: None, 3: None, 4: 3}
    assert anchors.files["new.txt"].lines == {1: None, 2: None} and anchors.files["new.txt"].old_path == "new.txt"
    assert set(anchors.files) == {"x.py", "new.txt"}  # a deleted file has no new side; a binary one no lines
    assert anchors.anchor("x.py", 4) and not anchors.anchor("x.py", 5) and not anchors.anchor("gone.txt", 1)


def test_the_review_diff_is_three_dots_as_the_forges_show_it(tmp_path):
    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True, text=True).stdout

    git("init", "-q", "-b", "main")
    git("config", "user.email", "t@t"), git("config", "user.name", "t")
    (tmp_path / "f.txt").write_text("1\n2\n3\n")
    git("add", "."), git("commit", "-qm", "base")
    git("checkout", "-qb", "feature")
    (tmp_path / "f.txt").write_text("1\n2\n3\n4\n")
    git("commit", "-qam", "feature")
    git("checkout", "-q", "main")
    (tmp_path / "other.txt").write_text("main moved on\n")
    git("add", "."), git("commit", "-qm", "main moves")
    diff = review_diff(tmp_path, "main", "feature")
    assert "other.txt" not in diff  # what main did since is not the pull request's change
    assert parse_anchors(diff).files["f.txt"].lines == {1: 1, 2: 2, 3: 3, 4: None}
