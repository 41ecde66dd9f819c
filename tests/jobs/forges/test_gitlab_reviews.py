"""GitLabForge's reviews and CI checks against the GitLab emulator over real HTTP, through python-gitlab."""

from __future__ import annotations

import pytest

from jobs.forges.gitlab import GitLabForge
from jobs.forges.reviewing import CiChecks, LineComment, PullReviews
from tests.emulators.gitlab import GitLabEmulator

PROJECT, TOKEN, OWN = "acme/app", "glpat-app", "codexbot"
OLD = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n"
NEW = "one\ntwo\nthree\nfour\nFIVE\nsix\nseven\neight\nnine\nten\neleven\n"  # 5 changed, 11 added; 2-4, 6-10 kept
TRACE = ("section_start:1700000000:step_script\r\x1b[0K\x1b[32;1m$ pytest\x1b[0;m\n" + "".join(
    f"line {i}\n" for i in range(200)) + "progress 10%\rprogress 100%\nFAILED tests/test_x.py::test_x\n"
         "section_end:1700000001:step_script\r\x1b[0K\x1b[31;1mERROR: Job failed: exit code 1\x1b[0;m\n")


@pytest.fixture
def gl_emu():
    with GitLabEmulator() as emu:
        emu.create_project(PROJECT, {"lines.txt": OLD})
        emu.add_token(TOKEN, PROJECT)
        emu.commit_files(PROJECT, "feature", {"lines.txt": NEW}, "Change lines", start="main")
        emu.open_merge_request(PROJECT, "feature", "Change lines", author="alice")
        yield emu
        assert emu.errors == []


@pytest.fixture
def forge(gl_emu):
    forge = GitLabForge(gl_emu.url, TOKEN, PROJECT, is_merge_request=True, number=1)
    yield forge
    forge.close()


def heads(emu):
    return emu.branch_head(PROJECT, "feature"), emu.branch_head(PROJECT, "main")


def comment(line, key):
    return LineComment("lines.txt", line, f"**P1**: line {line}\n\n<!-- codexbot:finding={key} -->")


def test_gitlab_forge_speaks_both_protocols(forge):
    assert isinstance(forge, PullReviews) and isinstance(forge, CiChecks)
    assert forge.head_ref(4) == "refs/merge-requests/4/head"


def test_review_posts_one_discussion_per_line_and_the_rest_in_the_summary_note(gl_emu, forge):
    head, base = heads(gl_emu)
    comments = [comment(11, "added"), comment(3, "kept"), comment(1, "off"), LineComment("gone.txt", 2, "no file")]
    posted = forge.post_review(1, head, base, "<!-- codexbot:review=r1 -->\nsummary", comments)
    assert posted.comments == 2
    discussions = gl_emu.discussions(PROJECT, 1)
    positions = [d["notes"][0]["position"] for d in discussions if d["notes"][0]["type"] == "DiffNote"]
    assert [(p["new_line"], p["old_line"]) for p in positions] == [(11, None), (3, 3)]
    [summary] = [n for n in gl_emu.notes(PROJECT, 1, merge_request=True) if "codexbot:review=r1" in n["body"]]
    assert "`lines.txt:1`: **P1**: line 1" in summary["body"] and "`gone.txt:2`: no file" in summary["body"]
    assert posted.url == f"{gl_emu.url}/{PROJECT}/-/merge_requests/1#note_{summary['id']}"
    assert forge.find_review(1, "codexbot:review=r1") == posted.url and forge.find_review(1, "review=r2") is None


def test_a_merge_request_that_moved_on_gets_its_comments_in_the_summary(gl_emu, forge):
    head, base = heads(gl_emu)
    gl_emu.commit_files(PROJECT, "feature", {"other.txt": "x\n"}, "More")
    posted = forge.post_review(1, head, base, "summary", [comment(11, "added")])
    assert posted.comments == 0 and "did not accept" in gl_emu.notes(PROJECT, 1, merge_request=True)[-1]["body"]


def test_open_findings_are_the_unresolved_discussions_of_codexbot(gl_emu, forge):
    head, base = heads(gl_emu)
    forge.post_review(1, head, base, "summary", [comment(11, "added"), comment(5, "changed")])
    assert forge.open_finding_keys(1) == {"added", "changed"}
    resolved = next(d for d in gl_emu.discussions(PROJECT, 1) if "finding=changed" in d["notes"][0]["body"])
    gl_emu.resolve_discussion("alice", PROJECT, 1, resolved["id"])
    assert forge.open_finding_keys(1) == {"added"}


def test_checks_read_the_head_pipeline_jobs_with_their_trace_tails(gl_emu, forge):
    head, _ = heads(gl_emu)
    forge.start_check(head, OWN, "")  # codexbot's own running status never counts
    assert forge.checks(1, head, OWN, 5).state == "success"  # no CI at all
    pipeline = gl_emu.ci.pipeline(PROJECT, head, {"lint": "success", "tests": "running"}, traces={"tests": TRACE},
                                  merge_request=1)
    assert forge.checks(1, head, OWN, 5).state == "pending"
    gl_emu.ci.set_job(pipeline, "tests", "failed")
    state = forge.checks(1, head, OWN, 4)
    assert state.state == "failure" and [f.name for f in state.failed] == ["tests"]
    assert state.failed[0].url.endswith(f"/{PROJECT}/-/jobs/{gl_emu.ci.jobs_of(pipeline)[1]['id']}")
    assert state.failed[0].log_tail == ("line 199\nprogress 100%\nFAILED tests/test_x.py::test_x\n"
                                        "ERROR: Job failed: exit code 1")
    forge.finish_check(forge.start_check(head, OWN, ""), "failure", "codexbot failed", "")
    gl_emu.ci.set_job(pipeline, "tests", "success")
    assert forge.checks(1, head, OWN, 4).state == "success"


def test_checks_count_other_ci_statuses_and_ignore_older_commits(gl_emu, forge):
    head, base = heads(gl_emu)
    gl_emu.ci.pipeline(PROJECT, base, {"tests": "failed"}, ref="main")
    assert forge.checks(1, head, OWN, 5).state == "success"
    status = forge.start_check(head, "jenkins", "http://ci/1")
    assert forge.checks(1, head, OWN, 5).state == "pending"
    forge.finish_check(status, "failure", "2 tests failed", "")
    state = forge.checks(1, head, OWN, 5)
    assert state.state == "failure" and [(f.name, f.url, f.log_tail) for f in state.failed] == [
        ("jenkins", "http://ci/1", "2 tests failed")]
