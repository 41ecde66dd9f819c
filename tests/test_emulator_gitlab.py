"""The GitLab emulator, driven by the real clients: python-gitlab, git, requests and the bot's own parser."""

from __future__ import annotations

import json
import os

import gitlab
import pytest
import requests

from bot.events.fields import Rules
from bot.events.gitlab import parse_gitlab_event
from tests.emulators.gitlab import GitLabEmulator
from tests.emulators.receiver import webhook_receiver
from tests.test_emulators import git

PROJECT, OTHER = "acme/tools/app", "acme/other"
TOKEN, READ_TOKEN, OTHER_TOKEN, GROUP_TOKEN = "glpat-app", "glpat-read", "glpat-other", "glpat-group"


@pytest.fixture
def gl_emu():
    with GitLabEmulator() as emu:
        emu.create_project(PROJECT, {"README.md": "hello\n", "src/app.py": "print('hi')\n"})
        emu.create_project(OTHER, {"README.md": "other\n"})
        emu.add_token(TOKEN, PROJECT)
        emu.add_token(READ_TOKEN, PROJECT, scopes=("read_repository",), access_level=20)
        emu.add_token(OTHER_TOKEN, OTHER)
        emu.add_token(GROUP_TOKEN, "acme", access_level=30)
        yield emu
        assert emu.errors == []


def client(emu: GitLabEmulator, token: str = TOKEN) -> gitlab.Gitlab:
    return gitlab.Gitlab(emu.url, private_token=token, timeout=10)


def test_project_by_path_and_by_id_with_urls_for_git_and_web(gl_emu):
    project = client(gl_emu).projects.get(PROJECT)
    assert (project.path_with_namespace, project.default_branch) == (PROJECT, "main")
    assert project.http_url_to_repo == f"{gl_emu.url}/{PROJECT}.git"
    assert client(gl_emu).projects.get(project.id).web_url == f"{gl_emu.url}/{PROJECT}"
    assert any(r["path"] == "/api/v4/projects/acme%2Ftools%2Fapp" and r["token"] == TOKEN and r["status"] == 200
               for r in gl_emu.requests)


def test_tokens_are_checked_for_validity_scope_and_project(gl_emu):
    with pytest.raises(gitlab.GitlabAuthenticationError) as bad:
        client(gl_emu, "glpat-nope").projects.get(PROJECT)
    assert bad.value.error_message == "401 Unauthorized"
    with pytest.raises(gitlab.GitlabGetError) as scope:
        client(gl_emu, READ_TOKEN).projects.get(PROJECT)
    assert (scope.value.response_code, scope.value.error_message) == (403, "403 Forbidden")
    with pytest.raises(gitlab.GitlabGetError) as elsewhere:
        client(gl_emu, OTHER_TOKEN).projects.get(PROJECT)
    assert (elsewhere.value.response_code, elsewhere.value.error_message) == (404, "404 Project Not Found")
    assert client(gl_emu, GROUP_TOKEN).projects.get(PROJECT).id  # a group token reaches its subgroups
    assert client(gl_emu, READ_TOKEN).personal_access_tokens.get("self").scopes == ["read_repository"]


def test_token_acts_as_its_bot_user(gl_emu):
    gl = client(gl_emu)
    gl.auth()
    assert gl.user.username.startswith(f"project_{gl_emu.project(PROJECT)['id']}_bot_") and gl.user.bot


def test_notes_are_created_edited_by_their_author_only_and_paginated(gl_emu):
    gl_emu.open_issue(PROJECT, "Flaky test", "It fails", "alice")
    issue = client(gl_emu).projects.get(PROJECT, lazy=True).issues.get(1)
    note = issue.notes.create({"body": "working on it"})
    issue.notes.update(note.id, {"body": "done"})
    assert [n["body"] for n in gl_emu.notes(PROJECT, 1)] == ["done"]
    theirs = gl_emu.add_note("alice", PROJECT, 1, "thanks")
    with pytest.raises(gitlab.GitlabUpdateError) as refused:
        issue.notes.update(theirs["id"], {"body": "edited by the bot"})
    assert refused.value.response_code == 403
    for n in range(45):
        gl_emu.add_note("alice", PROJECT, 1, f"note {n}")
    listed = issue.notes.list(get_all=True, sort="asc")
    assert len(listed) == 47 and listed[0].body == "done"
    assert issue.notes.list(get_all=True)[0].body == "note 44"  # newest first unless asked


def test_issue_and_merge_request_numbers_are_separate(gl_emu):
    gl_emu.open_issue(PROJECT, "Issue one")
    gl_emu.commit_files(PROJECT, "feature", {"a.txt": "a"})
    gl_emu.open_merge_request(PROJECT, "feature", "MR one")
    project = client(gl_emu).projects.get(PROJECT, lazy=True)
    assert project.issues.get(1).title == "Issue one"
    assert project.mergerequests.get(1).title == "MR one"
    project.mergerequests.get(1, lazy=True).notes.create({"body": "on the MR"})
    assert gl_emu.notes(PROJECT, 1) == [] and len(gl_emu.notes(PROJECT, 1, merge_request=True)) == 1


def test_award_emoji_on_issue_and_note_once_per_user(gl_emu):
    gl_emu.open_issue(PROJECT, "Bug")
    note_id = gl_emu.add_note("alice", PROJECT, 1, "/codex fix it")["id"]
    issue = client(gl_emu).projects.get(PROJECT, lazy=True).issues.get(1, lazy=True)
    issue.awardemojis.create({"name": "rocket"})
    issue.notes.get(note_id, lazy=True).awardemojis.create({"name": "eyes"})
    with pytest.raises(gitlab.GitlabCreateError) as again:
        issue.notes.get(note_id, lazy=True).awardemojis.create({"name": "eyes"})
    assert again.value.response_code == 404 and "has already been taken" in again.value.error_message
    assert [a["name"] for a in gl_emu.award_emoji(PROJECT, 1)] == ["rocket"]
    assert [a.name for a in issue.notes.get(note_id, lazy=True).awardemojis.list(get_all=True)] == ["eyes"]


def test_merge_requests_are_created_filtered_updated_and_refused_twice(gl_emu):
    sha = gl_emu.commit_files(PROJECT, "codex/fix", {"fix.txt": "fixed"})
    project = client(gl_emu).projects.get(PROJECT, lazy=True)
    mr = project.mergerequests.create({"source_branch": "codex/fix", "target_branch": "main",
                                       "title": "Fix", "description": "Closes #1"})
    assert (mr.iid, mr.sha, mr.state, mr.description) == (1, sha, "opened", "Closes #1")
    with pytest.raises(gitlab.GitlabCreateError) as twice:
        project.mergerequests.create({"source_branch": "codex/fix", "target_branch": "main", "title": "Fix"})
    assert twice.value.response_code == 409
    assert twice.value.error_message == ["Another open merge request already exists for this source branch: !1"]
    assert [m.iid for m in project.mergerequests.list(source_branch="codex/fix", state="opened", get_all=True)] == [1]
    assert project.mergerequests.list(source_branch="other", get_all=True) == []
    project.mergerequests.update(1, {"title": "Fix it"})
    assert gl_emu.merge_requests(PROJECT)[0]["title"] == "Fix it"


def test_members_all_includes_group_membership(gl_emu):
    gl_emu.add_user("alice", {"acme": 30})
    gl_emu.add_user("bob", {PROJECT: 20})
    gl_emu.add_user("eve")
    gl = client(gl_emu)
    project = gl.projects.get(PROJECT, lazy=True)
    ids = {name: gl.users.list(username=name)[0].id for name in ("alice", "bob", "eve")}
    assert project.members_all.get(ids["alice"]).access_level == 30
    assert project.members_all.get(ids["bob"]).access_level == 20
    with pytest.raises(gitlab.GitlabGetError) as outsider:
        project.members_all.get(ids["eve"])
    assert outsider.value.response_code == 404
    assert gl.users.list(username="nobody") == []


def test_files_are_read_at_a_ref_and_missing_ones_are_404(gl_emu):
    gl_emu.commit_files(PROJECT, "feature", {"src/app.py": "print('bye')\n"})
    files = client(gl_emu).projects.get(PROJECT, lazy=True).files
    assert files.get(file_path="src/app.py", ref="main").decode() == b"print('hi')\n"
    assert files.get(file_path="src/app.py", ref="feature").decode() == b"print('bye')\n"
    for path, ref in (("nope.txt", "main"), ("src/app.py", "no-branch")):
        with pytest.raises(gitlab.GitlabGetError) as missing:
            files.get(file_path=path, ref=ref)
        assert missing.value.response_code == 404


def test_commit_statuses_move_from_running_to_success(gl_emu):
    sha = gl_emu.branch_head(PROJECT, "main")
    commit = client(gl_emu).projects.get(PROJECT, lazy=True).commits.get(sha, lazy=True)
    started = commit.statuses.create({"state": "running", "name": "codexbot", "target_url": "http://x/runs/1"})
    with pytest.raises(gitlab.GitlabCreateError) as again:
        commit.statuses.create({"state": "running", "name": "codexbot"})
    assert again.value.response_code == 400 and "Cannot transition status" in again.value.error_message
    finished = commit.statuses.create({"state": "success", "name": "codexbot", "description": "All green"})
    assert finished.id == started.id and finished.status == "success"
    assert [(s.status, s.description) for s in commit.statuses.list(get_all=True)] == [("success", "All green")]
    assert gl_emu.commit_statuses(PROJECT, sha)[0]["target_url"] == "http://x/runs/1"


def helper(token: str, username: str = "oauth2") -> str:
    return f"credential.helper=!f() {{ echo username={username}; echo password={token}; }}; f"


def test_git_clone_and_push_follow_token_scopes_and_projects(gl_emu, tmp_path):
    home, work, url = str(tmp_path), str(tmp_path / "work"), f"{gl_emu.url}/{PROJECT}.git"
    assert git("clone", url, work, home=home).returncode != 0
    cloned = git("-c", helper(READ_TOKEN, "anyone"), "clone", url, work, home=home)
    assert cloned.returncode == 0, cloned.stderr
    (tmp_path / "work" / "big.bin").write_bytes(os.urandom(200_000))
    git("add", ".", cwd=work, home=home)
    git("commit", "-qm", "Add big file", cwd=work, home=home)
    refused = git("-c", helper(READ_TOKEN), "push", "origin", "HEAD:refs/heads/topic", cwd=work, home=home)
    assert refused.returncode != 0 and "not allowed to push code" in refused.stderr
    pushed = git("-c", f"http.extraHeader=Authorization: Bearer {TOKEN}", "-c", "http.postBuffer=65536",
                 "push", "origin", "HEAD:refs/heads/topic", cwd=work, home=home)
    assert pushed.returncode == 0, pushed.stderr
    head = git("rev-parse", "HEAD", cwd=work, home=home).stdout.strip()
    assert gl_emu.branch_head(PROJECT, "topic") == head
    assert gl_emu.pushes == [{"project": PROJECT, "branch": "topic", "old_sha": None, "sha": head, "token": TOKEN}]
    hidden = git("-c", helper(OTHER_TOKEN), "ls-remote", url, home=home)
    assert hidden.returncode != 0 and "could not be found" in hidden.stderr


@pytest.fixture
def receiver():
    with webhook_receiver("/webhooks/gitlab") as endpoint:
        yield endpoint


def test_note_hook_carries_gitlab_headers_and_parses_into_a_trigger(gl_emu, receiver):
    url, received = receiver
    gl_emu.set_webhook(url, "hook-secret")
    gl_emu.open_issue(PROJECT, "Flaky test", "It fails", "alice")
    delivery = gl_emu.note_as("alice", PROJECT, 1, "/codex fix the flaky test")
    assert (delivery.status, delivery.response) == (202, "queued")
    headers, body = received[0]
    assert headers["X-Gitlab-Event"] == "Note Hook" and headers["X-Gitlab-Token"] == "hook-secret"
    assert headers["Idempotency-Key"] == delivery.id and headers["X-Gitlab-Event-UUID"]
    assert headers["X-Gitlab-Instance"] == gl_emu.url and headers["User-Agent"].startswith("GitLab/")
    trigger = parse_gitlab_event("Note Hook", json.loads(body), Rules())
    assert (trigger.repo, trigger.number, trigger.is_pull_request, trigger.author) == (PROJECT, 1, False, "alice")
    assert trigger.comment_id == gl_emu.notes(PROJECT, 1)[0]["id"] and trigger.command.text == "fix the flaky test"
    assert trigger.url.endswith(f"/{PROJECT}/-/issues/1#note_{trigger.comment_id}")


def test_note_on_a_merge_request_and_a_resend_keep_the_idempotency_key(gl_emu, receiver):
    url, received = receiver
    gl_emu.set_webhook(url, "hook-secret")
    gl_emu.commit_files(PROJECT, "feature", {"a.txt": "a"})
    gl_emu.open_merge_request(PROJECT, "feature", "Feature")
    first = gl_emu.note_as("bob", PROJECT, 1, "/codex add tests", merge_request=True)
    again = gl_emu.redeliver(first.id)
    assert again.id == first.id and received[0][1] == received[1][1]
    assert received[0][0]["Idempotency-Key"] == received[1][0]["Idempotency-Key"] == first.id
    payload = json.loads(received[0][1])
    assert payload["merge_request"]["source_branch"] == "feature" and payload["merge_request"]["state"] == "opened"
    trigger = parse_gitlab_event("Note Hook", payload, Rules())
    assert (trigger.number, trigger.is_pull_request, trigger.command.text) == (1, True, "add tests")


def test_label_hook_lists_previous_and_current_labels(gl_emu, receiver):
    url, received = receiver
    gl_emu.set_webhook(url, "hook-secret")
    gl_emu.open_issue(PROJECT, "Speed up CI", "It is slow", "alice")
    gl_emu.label_as("alice", PROJECT, 1, "bug")
    gl_emu.label_as("alice", PROJECT, 1, "codex")
    payload = json.loads(received[1][1])
    assert received[1][0]["X-Gitlab-Event"] == "Issue Hook"
    assert [label["title"] for label in payload["changes"]["labels"]["previous"]] == ["bug"]
    assert [label["title"] for label in payload["changes"]["labels"]["current"]] == ["bug", "codex"]
    trigger = parse_gitlab_event("Issue Hook", payload, Rules())
    assert (trigger.source, trigger.number, trigger.command.text) == ("label", 1, "Speed up CI\n\nIt is slow")


def test_unknown_routes_and_anonymous_calls_answer_like_gitlab(gl_emu):
    assert requests.get(f"{gl_emu.url}/api/v4/nothing/here", timeout=10).json() == {"error": "404 Not Found"}
    anonymous = requests.get(f"{gl_emu.url}/api/v4/projects/1", timeout=10)
    assert (anonymous.status_code, anonymous.json()) == (401, {"message": "401 Unauthorized"})
