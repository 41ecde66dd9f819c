"""The GitLab emulator's merge request reviews and CI, driven by python-gitlab, git and the bot's own parser:
discussions on diff positions (400 off the diff), resolving them, merge request refs (forks too), pipelines with
jobs and traces, and the Merge Request and Pipeline hooks."""

from __future__ import annotations

import json

import gitlab
import pytest

from bot.events.fields import Rules
from bot.events.gitlab import parse_gitlab_event
from tests.emulators.gitlab import GitLabEmulator
from tests.emulators.receiver import webhook_receiver
from tests.test_emulator_gitlab import helper
from tests.test_emulators import git

PROJECT, FORK, TOKEN = "acme/app", "eve/app", "glpat-app"
OLD = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n"
NEW = "one\ntwo\nthree\nfour\nFIVE\nsix\nseven\neight\nnine\nten\neleven\n"  # 5 changed, 11 added


@pytest.fixture
def gl_emu():
    with GitLabEmulator() as emu:
        emu.create_project(PROJECT, {"lines.txt": OLD})
        emu.add_token(TOKEN, PROJECT)
        emu.add_user("alice", {PROJECT: 30})
        emu.commit_files(PROJECT, "feature", {"lines.txt": NEW}, "Change lines", start="main")
        emu.open_merge_request(PROJECT, "feature", "Change lines", author="alice")
        yield emu
        assert emu.errors == []


def merge_request(emu, iid=1):
    return gitlab.Gitlab(emu.url, private_token=TOKEN, timeout=10).projects.get(PROJECT).mergerequests.get(iid)


def position(mr, new_line, old_line=None, path="lines.txt"):
    refs = mr.diff_refs
    return {"base_sha": refs["base_sha"], "start_sha": refs["start_sha"], "head_sha": refs["head_sha"],
            "position_type": "text", "old_path": path, "new_path": path, "new_line": new_line,
            **({"old_line": old_line} if old_line is not None else {})}


def test_diff_refs_name_the_merge_base_the_target_and_the_head(gl_emu):
    refs = merge_request(gl_emu).diff_refs
    main, feature = gl_emu.branch_head(PROJECT, "main"), gl_emu.branch_head(PROJECT, "feature")
    assert refs == {"base_sha": main, "start_sha": main, "head_sha": feature}


def test_discussions_sit_on_diff_lines_and_positions_off_the_diff_are_refused_with_400(gl_emu):
    mr = merge_request(gl_emu)
    added = mr.discussions.create({"body": "added line", "position": position(mr, 11)})
    context = mr.discussions.create({"body": "unchanged line", "position": position(mr, 3, old_line=3)})
    [note] = added.attributes["notes"]
    assert note["type"] == "DiffNote" and note["position"]["new_line"] == 11 and note["position"]["old_line"] is None
    assert note["resolvable"] is True and note["resolved"] is False
    assert context.attributes["notes"][0]["position"]["old_line"] == 3
    for wrong in (position(mr, 3), position(mr, 11, old_line=10), position(mr, 1), position(mr, 1, path="nope")):
        with pytest.raises(gitlab.GitlabCreateError) as refused:  # an unchanged line needs old_line; 1 is off the diff
            mr.discussions.create({"body": "x", "position": wrong})
        assert refused.value.response_code == 400 and "line_code" in refused.value.error_message
    stale = {**position(mr, 11), "head_sha": gl_emu.branch_head(PROJECT, "main")}
    with pytest.raises(gitlab.GitlabCreateError):
        mr.discussions.create({"body": "x", "position": stale})
    assert len(gl_emu.discussions(PROJECT, 1)) == 2


def test_discussions_are_listed_with_plain_notes_and_can_be_resolved(gl_emu):
    mr = merge_request(gl_emu)
    thread = mr.discussions.create({"body": "P0", "position": position(mr, 5, )})
    mr.notes.create({"body": "a summary"})
    listed = {d.attributes["notes"][0]["body"]: d for d in mr.discussions.list(get_all=True)}
    assert set(listed) == {"P0", "a summary"} and listed["a summary"].individual_note is True
    thread.resolved = True
    thread.save()
    again = mr.discussions.get(thread.id)
    assert again.attributes["notes"][0]["resolved"] is True
    assert again.attributes["notes"][0]["resolved_by"]["username"] == gl_emu.state.tokens[TOKEN]["user"]["username"]
    assert len(mr.notes.list(get_all=True)) == 2  # a diff note is also one of the merge request's notes


def test_merge_request_heads_are_refs_in_the_target_project_forks_included(gl_emu, tmp_path):
    gl_emu.fork_project(PROJECT, FORK)  # the same history (two projects made alike share it only within a second)
    fork_head = gl_emu.commit_files(FORK, "idea", {"idea.txt": "idea\n"}, "Idea", start="main")
    gl_emu.open_merge_request(PROJECT, "idea", "Idea", author="eve", source_project=FORK)
    mr = merge_request(gl_emu, 2)
    assert mr.sha == fork_head and mr.source_project_id == gl_emu.project(FORK)["id"]
    assert mr.diff_refs["head_sha"] == fork_head
    home, url = str(tmp_path), f"{gl_emu.url}/{PROJECT}.git"
    listed = git("-c", helper(TOKEN), "ls-remote", url, "refs/merge-requests/*", home=home)
    assert listed.returncode == 0, listed.stderr
    heads = dict(reversed(line.split("\t")) for line in listed.stdout.splitlines())
    assert heads == {"refs/merge-requests/1/head": gl_emu.branch_head(PROJECT, "feature"),
                     "refs/merge-requests/2/head": fork_head}
    diffs = gitlab.Gitlab(gl_emu.url, private_token=TOKEN).http_list(
        f"/projects/{gl_emu.project(PROJECT)['id']}/merge_requests/2/diffs", get_all=True)
    assert [d["new_path"] for d in diffs] == ["idea.txt"]


def test_pipelines_jobs_and_traces(gl_emu):
    sha = gl_emu.branch_head(PROJECT, "feature")
    pipeline = gl_emu.ci.pipeline(PROJECT, sha, {"lint": "success", "tests": "running"}, merge_request=1,
                                  traces={"tests": "\x1b[0Kcollecting\nFAILED test_x\n"})
    mr = merge_request(gl_emu)
    assert mr.head_pipeline["id"] == pipeline["id"] and mr.head_pipeline["status"] == "running"
    project = gitlab.Gitlab(gl_emu.url, private_token=TOKEN).projects.get(PROJECT)
    gl_emu.ci.set_job(pipeline, "tests", "failed")
    [listed] = project.pipelines.list(sha=sha, get_all=True)
    assert (listed.id, listed.status, listed.ref) == (pipeline["id"], "failed", "refs/merge-requests/1/head")
    jobs = {j.name: j for j in project.pipelines.get(pipeline["id"]).jobs.list(get_all=True)}
    assert {n: j.status for n, j in jobs.items()} == {"lint": "success", "tests": "failed"}
    trace = project.jobs.get(jobs["tests"].id, lazy=True).trace()
    assert trace == b"\x1b[0Kcollecting\nFAILED test_x\n"
    assert [p.id for p in mr.pipelines.list(get_all=True)] == [pipeline["id"]]
    assert project.pipelines.list(sha="0" * 40, get_all=True) == []


@pytest.fixture
def receiver():
    with webhook_receiver("/webhooks/gitlab") as endpoint:
        yield endpoint


def test_pipeline_hook_names_its_merge_request_and_parses_into_a_ci_repair(gl_emu, receiver):
    url, received = receiver
    gl_emu.set_webhook(url, "hook-secret")
    gl_emu.commit_files(PROJECT, "codex/1-abcdef12", {"fix.txt": "x"}, "Fix", start="main")
    gl_emu.open_merge_request(PROJECT, "codex/1-abcdef12", "Fix", author="project_1_bot_00")
    sha = gl_emu.branch_head(PROJECT, "codex/1-abcdef12")
    pipeline = gl_emu.ci.pipeline(PROJECT, sha, {"tests": "failed"}, merge_request=2)
    gl_emu.ci.deliver(pipeline)
    headers, body = received[0]
    payload = json.loads(body)
    assert headers["X-Gitlab-Event"] == "Pipeline Hook" and payload["object_attributes"]["status"] == "failed"
    assert payload["merge_request"]["iid"] == 2 and payload["builds"][0]["name"] == "tests"
    trigger = parse_gitlab_event("Pipeline Hook", payload, Rules())
    assert (trigger.command.kind, trigger.number, trigger.source) == ("fix-ci", 2, "event")


def test_merge_request_hooks_for_open_and_ready(gl_emu, receiver):
    url, received = receiver
    gl_emu.set_webhook(url, "hook-secret")
    gl_emu.commit_files(PROJECT, "wip", {"w.txt": "w"}, "Wip", start="main")
    gl_emu.open_merge_request(PROJECT, "wip", "Draft: Wip", author="alice")
    gl_emu.merge_request_event_as("alice", PROJECT, 2, "open")
    gl_emu.mark_ready_as("alice", PROJECT, 2)
    opened, ready = (json.loads(body) for _, body in received)
    assert opened["object_attributes"]["draft"] is True and ready["object_attributes"]["draft"] is False
    assert isinstance(parse_gitlab_event("Merge Request Hook", opened, Rules()).reason, str)
    trigger = parse_gitlab_event("Merge Request Hook", ready, Rules())
    assert (trigger.command.kind, trigger.number, trigger.author) == ("review", 2, "alice")
    assert merge_request(gl_emu, 2).title == "Wip"
