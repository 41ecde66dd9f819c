"""The GitHub and OpenAI emulators, driven by the real clients: PyGithub, git, requests, openai."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import os
import subprocess

import github
import openai
import pytest
import requests
from github import Auth

from tests.emulators.github import GitHubEmulator
from tests.emulators.github_auth import generate_app_key
from tests.emulators.openai_api import OpenAIEmulator
from tests.emulators.receiver import webhook_receiver

REPO, OTHER = "octo/app", "octo/other"
READ_ONLY = {"contents": "read", "issues": "read", "pull_requests": "read"}


@pytest.fixture
def gh():
    with GitHubEmulator(app_id=4242) as emu:
        emu.create_repo(REPO, {"README.md": "hello\n", "src/app.py": "print('hi')\n"})
        emu.create_repo(OTHER, {"README.md": "other\n"})
        emu.add_installation(77, [REPO, OTHER])
        yield emu
        assert emu.errors == []


def client(emu: GitHubEmulator, token: str) -> github.Github:
    # PyGithub waits 0.25 s between requests and 1 s between writes unless told otherwise.
    return github.Github(auth=Auth.Token(token), base_url=emu.url, retry=None,
                         seconds_between_requests=0, seconds_between_writes=0)


def app_token(emu: GitHubEmulator, **body) -> dict:
    """Asks for an installation token with a JWT made by PyGithub's own AppAuth."""
    jwt = Auth.AppAuth(emu.app_id, emu.app_private_key_pem).token
    answer = requests.post(f"{emu.url}/app/installations/77/access_tokens", json=body, timeout=10,
                           headers={"Authorization": f"Bearer {jwt}"})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_app_jwt_reads_installation_and_gets_a_token_scoped_to_one_repo(gh):
    integration = github.GithubIntegration(auth=Auth.AppAuth(gh.app_id, gh.app_private_key_pem),
                                           base_url=gh.url, retry=None)
    assert integration.get_app_installation(77).id == 77
    assert integration.get_app().slug == "codexbot"
    repo_id = gh.state.repo(REPO)["id"]
    grant = app_token(gh, repository_ids=[repo_id], permissions={"contents": "read"})
    assert [r["full_name"] for r in grant["repositories"]] == [REPO]
    assert grant["permissions"] == {"contents": "read", "metadata": "read"}
    assert grant["repository_selection"] == "selected" and grant["expires_at"].endswith("Z")
    api = client(gh, grant["token"])
    assert api.get_repo(REPO).default_branch == "main"
    with pytest.raises(github.UnknownObjectException):
        api.get_repo(OTHER)
    assert integration.get_repo_installation("octo", "app").id == 77


def test_pygithub_installation_auth_fetches_its_own_token(gh):
    app_auth = Auth.AppAuth(gh.app_id, gh.app_private_key_pem)
    api = github.Github(auth=app_auth.get_installation_auth(77, {"contents": "read"}), base_url=gh.url,
                        retry=None, seconds_between_requests=0, seconds_between_writes=0)
    assert api.get_repo(OTHER).get_contents("README.md").decoded_content == b"other\n"
    assert [r["path"] for r in gh.requests][:2] == ["/app/installations/77/access_tokens", f"/repos/{OTHER}"]


def test_token_for_a_repo_outside_the_installation_is_refused(gh):
    outside = gh.create_repo("octo/private", {"README.md": "secret\n"})
    jwt = gh.app_jwt()
    answer = requests.post(f"{gh.url}/app/installations/77/access_tokens", timeout=10,
                           json={"repository_ids": [outside["id"]]},
                           headers={"Authorization": f"Bearer {jwt}"})
    assert answer.status_code == 422
    token = gh.issue_token(77)
    with pytest.raises(github.UnknownObjectException):
        client(gh, token).get_repo("octo/private")
    gh.state.tokens[token]["expires"] = 0  # as if an hour had passed
    with pytest.raises(github.BadCredentialsException):
        client(gh, token).get_repo(REPO)


def test_bad_jwts_and_tokens_get_401(gh):
    other_key, _ = generate_app_key()
    forged = Auth.AppAuth(gh.app_id, other_key).token
    token = gh.issue_token(77)
    for header in (f"Bearer {forged}", f"Bearer {token}", "token nope"):
        answer = requests.get(f"{gh.url}/app", headers={"Authorization": header}, timeout=10)
        assert answer.status_code == 401, header
    too_long = gh.app_jwt(lifetime=900)
    answer = requests.get(f"{gh.url}/app", headers={"Authorization": f"Bearer {too_long}"}, timeout=10)
    assert answer.status_code == 401 and "exp" in answer.json()["message"]


def test_read_token_cannot_comment_and_revoked_token_is_refused(gh):
    token = app_token(gh, repositories=["app"], permissions=READ_ONLY)["token"]
    issue = gh.open_issue(REPO, "Flaky test", "It fails sometimes.", user="alice")
    with pytest.raises(github.GithubException) as denied:
        client(gh, token).get_repo(REPO).get_issue(issue["number"]).create_comment("hi")
    assert denied.value.status == 403
    assert denied.value.data["message"] == "Resource not accessible by integration"
    revoked = requests.delete(f"{gh.url}/installation/token", timeout=10,
                              headers={"Authorization": f"token {token}"})
    assert revoked.status_code == 204 and gh.token(token)["revoked"]
    with pytest.raises(github.BadCredentialsException):
        client(gh, token).get_repo(REPO)
    assert ("DELETE", "/installation/token", 204) in [(r["method"], r["path"], r["status"])
                                                      for r in gh.requests]


def test_comments_edits_reactions_and_collaborator_permission(gh):
    gh.add_user("alice", {REPO: "maintain"})
    number = gh.open_issue(REPO, "Bug", "body", user="alice")["number"]
    repo = client(gh, gh.issue_token(77, [REPO])).get_repo(REPO)
    issue = repo.get_issue(number)
    comment = issue.create_comment("Working on it <!-- codexbot:run=1 -->")
    comment.edit("Done <!-- codexbot:run=1 -->")
    assert comment.user.login == "codexbot[bot]" and comment.user.type == "Bot"
    assert [c.body for c in issue.get_comments()] == ["Done <!-- codexbot:run=1 -->"]
    assert comment.create_reaction("eyes").content == "eyes"
    issue.create_reaction("rocket")
    assert [r.content for r in comment.get_reactions()] == ["eyes"]
    again = requests.post(f"{comment.url}/reactions", json={"content": "eyes"}, timeout=10,
                          headers={"Authorization": f"token {gh.issue_token(77)}"})
    assert again.status_code == 200
    assert repo.get_collaborator_permission("alice") == "write"
    assert repo.get_collaborator_role_name("alice") == "maintain"
    assert repo.get_collaborator_permission("octo") == "admin"
    assert gh.comments(REPO, number)[0]["body"].startswith("Done")


def test_many_comments_are_paginated_like_github(gh):
    number = gh.open_issue(REPO, "Chatty", "")["number"]
    for i in range(35):
        gh.add_comment("alice", REPO, number, f"comment {i}")
    comments = client(gh, gh.issue_token(77)).get_repo(REPO).get_issue(number).get_comments()
    assert [c.body for c in comments][-1] == "comment 34" and len(list(comments)) == 35


def test_pulls_are_found_by_head_and_a_duplicate_is_refused(gh):
    sha = gh.commit_files(REPO, "codexbot/fix-1", {"src/app.py": "print('fixed')\n"}, "Fix")
    repo = client(gh, gh.issue_token(77, [REPO])).get_repo(REPO)
    pull = repo.create_pull(base="main", head="codexbot/fix-1", title="Fix", body="Fixes #1")
    assert pull.head.sha == sha and pull.base.ref == "main" and pull.state == "open"
    found = repo.get_pulls(state="open", head="octo:codexbot/fix-1")
    assert [p.number for p in found] == [pull.number]
    assert list(repo.get_pulls(head="octo:other-branch")) == []
    with pytest.raises(github.GithubException) as duplicate:
        repo.create_pull(base="main", head="codexbot/fix-1", title="Fix again")
    assert duplicate.value.status == 422
    with pytest.raises(github.GithubException) as missing:
        repo.create_pull(base="main", head="no-such-branch", title="Nope")
    assert missing.value.status == 422
    assert repo.get_issue(pull.number).pull_request is not None
    assert len(gh.list_pulls(REPO)) == 1
    assert gh.read_file_at(REPO, "codexbot/fix-1", "src/app.py") == "print('fixed')\n"


def test_pull_request_token_may_comment_on_a_pull_but_not_on_an_issue(gh):
    gh.commit_files(REPO, "feature", {"a.txt": "a"})
    pull = gh.open_pull(REPO, "feature", "Feature")
    issue = gh.open_issue(REPO, "Plain issue")
    repo = client(gh, gh.issue_token(77, [REPO], {"pull_requests": "write"})).get_repo(REPO)
    repo.get_issue(pull["number"]).create_comment("on the pull")
    with pytest.raises(github.GithubException) as denied:
        repo.get_issue(issue["number"]).create_comment("on the issue")
    assert denied.value.status == 403


def test_check_runs_are_created_and_completed(gh):
    repo = client(gh, gh.issue_token(77, [REPO])).get_repo(REPO)
    run = repo.create_check_run(name="codexbot", head_sha=gh.branch_head(REPO, "main"),
                                status="in_progress")
    run.edit(conclusion="success", output={"title": "Done", "summary": "All green"})
    assert run.status == "completed" and run.conclusion == "success"
    assert gh.check_runs(REPO)[0]["output"]["summary"] == "All green"


def git(*args: str, cwd: str | None = None, home: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "HOME": home, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def helper(token: str) -> str:
    return f"credential.helper=!f() {{ echo username=x-access-token; echo password={token}; }}; f"


def test_git_clone_with_read_token_and_push_only_with_write_token(gh, tmp_path):
    home, work = str(tmp_path), str(tmp_path / "work")
    read = gh.issue_token(77, [REPO], {"contents": "read"})
    write = gh.issue_token(77, [REPO], {"contents": "write"})
    assert git("clone", f"{gh.url}/{REPO}.git", work, home=home).returncode != 0
    cloned = git("-c", helper(read), "clone", f"{gh.url}/{REPO}.git", work, home=home)
    assert cloned.returncode == 0, cloned.stderr
    (tmp_path / "work" / "big.bin").write_bytes(os.urandom(300_000))
    git("add", ".", cwd=work, home=home)
    git("commit", "-qm", "Add big file", cwd=work, home=home)
    refused = git("-c", helper(read), "push", "origin", "HEAD:refs/heads/topic", cwd=work, home=home)
    assert refused.returncode != 0 and "denied" in refused.stderr
    # A small postBuffer makes git send the pack as a chunked request body.
    pushed = git("-c", f"http.extraHeader=Authorization: Bearer {write}", "-c", "http.postBuffer=65536",
                 "push", "origin", "HEAD:refs/heads/topic", cwd=work, home=home)
    assert pushed.returncode == 0, pushed.stderr
    head = git("rev-parse", "HEAD", cwd=work, home=home).stdout.strip()
    assert gh.branch_head(REPO, "topic") == head
    assert gh.pushes == [{"repo": REPO, "branch": "topic", "old_sha": None, "sha": head, "token": write}]
    elsewhere = gh.issue_token(77, [OTHER])
    assert git("-c", helper(elsewhere), "ls-remote", f"{gh.url}/{REPO}.git", home=home).returncode != 0


def test_git_upload_pack_accepts_a_gzip_request_body(gh):
    sha = gh.branch_head(REPO, "main")
    lines = f"0032want {sha}\n00000009done\n".encode()
    answer = requests.post(f"{gh.url}/{REPO}.git/git-upload-pack", data=gzip.compress(lines), timeout=30,
                           auth=("x-access-token", gh.issue_token(77, [REPO])),
                           headers={"Content-Type": "application/x-git-upload-pack-request",
                                    "Content-Encoding": "gzip"})
    assert answer.status_code == 200 and answer.content.startswith(b"0008NAK\n")
    assert b"PACK" in answer.content


@pytest.fixture
def receiver():
    with webhook_receiver("/webhooks/github") as endpoint:
        yield endpoint


def test_comment_webhook_is_signed_and_redelivered_with_the_same_id_and_body(gh, receiver):
    url, received = receiver
    gh.set_webhook(url, "s3cret")
    gh.commit_files(REPO, "feature", {"a.txt": "a"})
    number = gh.open_pull(REPO, "feature", "Feature")["number"]
    delivery = gh.comment_as("alice", REPO, number, "/codex fix the flaky test")
    assert (delivery.status, delivery.response) == (202, "queued")
    headers, body = received[0]
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Hub-Signature-256"], expected)
    assert headers["X-GitHub-Event"] == "issue_comment" and headers["X-GitHub-Delivery"] == delivery.id
    assert headers["User-Agent"].startswith("GitHub-Hookshot/")
    payload = json.loads(body)
    assert payload["action"] == "created" and payload["installation"]["id"] == 77
    assert payload["issue"]["pull_request"]["url"].endswith(f"/pulls/{number}")
    assert payload["comment"]["body"] == "/codex fix the flaky test"
    assert payload["sender"]["login"] == "alice" and payload["repository"]["full_name"] == REPO
    again = gh.redeliver(delivery.id)
    assert received[1][0]["X-GitHub-Delivery"] == delivery.id and received[1][1] == body
    assert again.redelivery and len(gh.deliveries) == 2


def test_label_webhook_says_issues_labeled(gh, receiver):
    url, received = receiver
    gh.set_webhook(url, "s3cret")
    number = gh.open_issue(REPO, "Add a feature", "Details")["number"]
    gh.label_as("octo", REPO, number, "codex")
    headers, body = received[0]
    payload = json.loads(body)
    assert headers["X-GitHub-Event"] == "issues" and payload["action"] == "labeled"
    assert payload["label"]["name"] == "codex" and "pull_request" not in payload["issue"]


def test_unknown_route_answers_404_json(gh):
    answer = requests.get(f"{gh.url}/no/such/route", timeout=10)
    assert answer.status_code == 404 and answer.json()["message"] == "Not Found"


@pytest.fixture
def model():
    with OpenAIEmulator(api_key="sk-test") as emu:
        yield emu


def chat_client(emu: OpenAIEmulator, retries: int = 0, key: str = "sk-test") -> openai.OpenAI:
    return openai.OpenAI(base_url=emu.url + "/v1", api_key=key, max_retries=retries, timeout=10)


def test_chat_completion_tool_call_round_trip(model):
    model.set_script([{"tool_calls": [{"name": "shell", "arguments": {"cmd": "pytest -q"}}]},
                      {"content": "All tests pass.", "usage": {"prompt_tokens": 7, "completion_tokens": 3}}])
    llm = chat_client(model)
    tools = [{"type": "function", "function": {"name": "shell", "parameters": {"type": "object"}}}]
    messages = [{"role": "user", "content": "Fix the test"}]
    first = llm.chat.completions.create(model="gpt-emulator", messages=messages, tools=tools)
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert (call.function.name, json.loads(call.function.arguments)) == ("shell", {"cmd": "pytest -q"})
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "1 passed"}]
    second = llm.chat.completions.create(model="gpt-emulator", messages=messages, tools=tools)
    assert second.choices[0].message.content == "All tests pass."
    assert second.usage.total_tokens == 10 and second.choices[0].finish_reason == "stop"
    assert model.requests[1]["messages"][-1] == {"role": "tool", "tool_call_id": call.id,
                                                 "content": "1 passed"}
    assert model.headers[0]["Authorization"] == "Bearer sk-test"


def test_scripted_errors_exhaustion_and_bad_requests(model):
    model.set_script([{"status": 500, "headers": {"retry-after-ms": "1"}}, "recovered"])
    assert chat_client(model, retries=1).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}]).choices[0].message.content == "recovered"
    llm = chat_client(model, retries=2)
    with pytest.raises(openai.InternalServerError, match="exhausted"):
        llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert len(model.requests) == 3  # x-should-retry: false stops the client retrying
    model.push("never sent")
    with pytest.raises(openai.BadRequestError, match="stream"):
        llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True)
    orphan = [{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "x", "content": "?"}]
    with pytest.raises(openai.BadRequestError, match="tool"):
        llm.chat.completions.create(model="m", messages=orphan)
    with pytest.raises(openai.AuthenticationError):
        chat_client(model, key="sk-wrong").chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}])
    assert model.remaining == 1 and [m.id for m in llm.models.list()][0] == "gpt-emulator"


def test_script_item_can_be_computed_from_the_request(model):
    model.push(lambda request: f"you said {request['messages'][-1]['content']}")
    answer = chat_client(model).chat.completions.create(model="m", messages=[{"role": "user",
                                                                              "content": "ping"}])
    assert answer.choices[0].message.content == "you said ping"
