"""Who added a label, read from the forge's own event history (GitHub's issue events, GitLab's resource label
events) through the real PyGithub and python-gitlab against the emulators: the latest adder of that label,
found from the newest page back, whether the label was added by a user or through the API."""

from __future__ import annotations

import github
import gitlab
import pytest

from jobs.forges.base import ForgeNotFound
from jobs.forges.github import GitHubForge
from jobs.forges.github_app import GitHubApp
from jobs.forges.gitlab import GitLabForge
from tests.emulators.github import GitHubEmulator
from tests.emulators.gitlab import GitLabEmulator

REPO = "octo/app"
TOKEN = "glpat-label-events"


@pytest.fixture
def github_emu():
    with GitHubEmulator(app_id=4242) as emu:
        emu.create_repo(REPO, {"README.md": "hello\n"})
        emu.add_installation(77, [REPO])
        yield emu
        assert emu.errors == []


@pytest.fixture
def gl_emu():
    with GitLabEmulator() as emu:
        emu.create_project(REPO, {"README.md": "hello\n"})
        bot = emu.add_token(TOKEN, REPO)
        emu.bot_username = bot["username"]
        yield emu
        assert emu.errors == []


def github_forge(emu: GitHubEmulator) -> tuple[GitHubApp, GitHubForge]:
    app = GitHubApp(emu.url, emu.app_id, emu.app_private_key_pem)
    return app, GitHubForge(app, 77, REPO, emu.state.repo(REPO)["id"])


def test_github_finds_the_adder_of_the_label_behind_pages_of_later_events(github_emu):
    number = github_emu.open_issue(REPO, "Flaky", "", user="alice")["number"]
    issue, alice = github_emu.state.issue(github_emu.state.repo(REPO), number), github_emu.state.add_user("alice")
    github_emu.state.add_labels(issue, ["Codex"], github_emu.state.add_user("mallory"))
    github_emu.state.add_labels(issue, [f"later-{n}" for n in range(95)], alice)  # four pages of 30 after it
    _, forge = github_forge(github_emu)
    try:
        assert forge.labeled_by(number, "codex") == "mallory"
        assert forge.labeled_by(number, "later-3") == "alice"
        assert forge.labeled_by(number, "never") is None
        with pytest.raises(ForgeNotFound):
            forge.labeled_by(999, "codex")
    finally:
        forge.close()


def test_github_records_a_label_added_through_the_api_with_its_actor(github_emu):
    number = github_emu.open_issue(REPO, "Flaky", "", user="alice")["number"]
    app, forge = github_forge(github_emu)
    token = app.installation_token(77, [github_emu.state.repo(REPO)["id"]], {"issues": "write"}).token
    client = github.Github(auth=github.Auth.Token(token), base_url=github_emu.url)
    try:
        client.get_repo(REPO).get_issue(number).add_to_labels("codex")
        assert forge.labeled_by(number, "codex") == github_emu.bot_user["login"]
    finally:
        client.close()
        forge.close()


def test_gitlab_finds_the_adder_of_the_label_behind_pages_of_later_events(gl_emu):
    iid = gl_emu.open_issue(REPO, "Flaky", "", "alice")["iid"]
    record = gl_emu.state.project(REPO)
    issue, alice = gl_emu.state.noteable(record, "issues", iid), gl_emu.state.add_user("alice")
    gl_emu.state.add_label(record, issue, "codex", gl_emu.state.add_user("mallory"))
    for n in range(150):  # two pages of 100 after it
        gl_emu.state.add_label(record, issue, f"later-{n}", alice)
    forge = GitLabForge(gl_emu.url, TOKEN, REPO, is_merge_request=False)
    try:
        assert forge.labeled_by(iid, "Codex") == "mallory"
        assert forge.labeled_by(iid, "later-149") == "alice"
        assert forge.labeled_by(iid, "never") is None
        with pytest.raises(ForgeNotFound):
            forge.labeled_by(999, "codex")
    finally:
        forge.close()


def test_gitlab_records_a_label_added_through_the_api_with_its_user(gl_emu):
    iid = gl_emu.open_issue(REPO, "Flaky", "", "alice")["iid"]
    client = gitlab.Gitlab(gl_emu.url, private_token=TOKEN, timeout=10)
    forge = GitLabForge(gl_emu.url, TOKEN, REPO, is_merge_request=False)
    try:
        client.projects.get(REPO, lazy=True).issues.update(iid, {"add_labels": "codex"})
        assert forge.labeled_by(iid, "codex") == gl_emu.bot_username
        assert gl_emu.issue(REPO, iid)["labels"] == ["codex"]
    finally:
        client.session.close()
        forge.close()


def test_who_took_a_label_off_is_read_too_on_both_forges(github_emu, gl_emu):
    number = github_emu.open_issue(REPO, "Flaky", "", user="alice")["number"]
    issue = github_emu.state.issue(github_emu.state.repo(REPO), number)
    github_emu.state.add_labels(issue, ["codex"], github_emu.state.add_user("alice"))
    app, forge = github_forge(github_emu)
    try:
        assert forge.labeled_by(number, "codex", removed=True) is None
        github_emu.state.remove_label(issue, "codex", github_emu.state.add_user("mallory"))
        assert forge.labeled_by(number, "codex", removed=True) == "mallory"
        assert forge.labeled_by(number, "codex") == "alice"
    finally:
        forge.close()
    iid = gl_emu.open_issue(REPO, "Flaky", "", "alice")["iid"]
    client = gitlab.Gitlab(gl_emu.url, private_token=TOKEN, timeout=10)
    gl_forge = GitLabForge(gl_emu.url, TOKEN, REPO, is_merge_request=False)
    try:
        client.projects.get(REPO, lazy=True).issues.update(iid, {"add_labels": "codex"})
        assert gl_forge.labeled_by(iid, "codex", removed=True) is None
        client.projects.get(REPO, lazy=True).issues.update(iid, {"remove_labels": "codex"})
        assert gl_forge.labeled_by(iid, "codex", removed=True) == gl_emu.bot_username
        assert gl_emu.issue(REPO, iid)["labels"] == []
    finally:
        client.session.close()
        gl_forge.close()
