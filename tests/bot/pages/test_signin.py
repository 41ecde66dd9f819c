"""Signing in with GitHub or GitLab OAuth against the emulators, and what a signed-in viewer may see and do."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlparse

import pytest
from flask import url_for
import requests

from bot import create_app
from jobs.intake.accept import accept_trigger, load_task, make_queue
from jobs.intake.page_actions import retry_run
from jobs.records.runs import cancel_requested, load_run, update_run
from jobs.types import Command, Trigger
from tests.emulators import github_oauth, gitlab_oauth
from tests.emulators.github import GitHubEmulator
from tests.emulators.gitlab import GitLabEmulator
from tests.sample_repo import FILES

PUBLIC = "http://codexbot.test"


@pytest.fixture
def forges():
    github, gitlab = GitHubEmulator().start(), GitLabEmulator().start()
    for name in ("octo/calc", "octo/secret"):
        github.create_repo(name, FILES)
        gitlab.create_project(name, FILES)
    github.add_user("alice", {"octo/calc": "write"})
    github.add_user("mallory", {"octo/calc": "read"})
    gitlab.add_user("alice", {"octo/calc": 30})
    gitlab.add_user("mallory", {"octo/calc": 20})
    github_oauth.register_client(github, "Iv1.gh-client", "gh-secret")
    gitlab_oauth.register_client(gitlab, "gl-app", "gl-secret")
    yield github, gitlab
    github.stop()
    gitlab.stop()


@pytest.fixture
def web(settings, redis_conn, forges):
    github, gitlab = forges
    settings = dataclasses.replace(settings, public_url=PUBLIC, github_api_url=github.url, gitlab_url=gitlab.url,
                                   github_client_id="Iv1.gh-client", github_client_secret="gh-secret",
                                   gitlab_client_id="gl-app", gitlab_client_secret="gl-secret", admins=("gitlab:root",))
    app = create_app(settings)
    return app.test_client()


def ask(redis_conn, settings, repo="octo/calc", forge="github", author="alice", delivery="d1") -> str:
    trigger = Trigger(forge=forge, event="issue_comment", source="comment", repo=repo, repo_id=1, number=1,
                      is_pull_request=False, title="Tests fail", author=author, installation_id=None,
                      command=Command("task", "fix it"))
    return accept_trigger(make_queue(redis_conn, settings.queue), trigger, delivery, job_timeout=600).run_id


def sign_in(client, emulator, module, login, forge="github", next_path="/runs"):
    module.sign_in_as(emulator, login)
    start = client.get(f"/signin/{forge}?next={next_path}")
    assert start.status_code == 302
    at_forge = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    assert at_forge.status_code in (302, 303), at_forge.text
    back = urlparse(at_forge.headers["Location"])
    assert f"{back.scheme}://{back.netloc}" == PUBLIC
    return client.get(f"{back.path}?{back.query}")


def test_a_github_writer_signs_in_and_sees_the_run_with_its_buttons(web, forges, redis_conn, settings):
    run_id = ask(redis_conn, settings)
    assert web.get(f"/runs/{run_id}").status_code == 403  # nothing readable before signing in
    landed = sign_in(web, forges[0], github_oauth, "alice", next_path=f"/runs/{run_id}")
    assert landed.status_code == 302 and landed.headers["Location"] == f"/runs/{run_id}"
    cookie = landed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie and "ghu_" not in cookie
    page = web.get(f"/runs/{run_id}").get_data(as_text=True)
    assert 'id="me">github: alice' in page and 'id="cancel"' in page
    asked = len(forges[0].requests)
    web.get(f"/runs/{run_id}")
    assert len(forges[0].requests) == asked  # the permission is cached in Redis, not asked again


def test_a_reader_sees_the_run_without_buttons_and_a_stranger_sees_nothing(web, forges, redis_conn, settings):
    run_id = ask(redis_conn, settings)
    sign_in(web, forges[0], github_oauth, "mallory")
    page = web.get(f"/runs/{run_id}").get_data(as_text=True)
    assert 'id="me">github: mallory' in page and 'id="cancel"' not in page
    assert web.post(f"/runs/{run_id}/cancel", data={"csrf": _csrf(web)}).status_code == 403
    sign_in(web, forges[0], github_oauth, "eve")
    assert web.get(f"/runs/{run_id}").status_code == 404


def test_a_gitlab_developer_signs_in_and_the_list_shows_only_readable_repositories(web, forges, redis_conn, settings):
    mine = ask(redis_conn, settings, forge="gitlab", delivery="g1")
    secret = ask(redis_conn, settings, repo="octo/secret", forge="gitlab", delivery="g2")
    on_github = ask(redis_conn, settings, delivery="g3")
    assert sign_in(web, forges[1], gitlab_oauth, "alice", forge="gitlab").status_code == 302
    listing = web.get("/runs").get_data(as_text=True)
    assert f"/runs/{mine}" in listing and f"/runs/{secret}" not in listing and f"/runs/{on_github}" not in listing
    assert 'id="cancel"' in web.get(f"/runs/{mine}").get_data(as_text=True)


def test_cancel_needs_the_csrf_token_and_then_asks_the_run_to_stop(web, forges, redis_conn, settings):
    run_id = ask(redis_conn, settings)
    sign_in(web, forges[0], github_oauth, "alice")
    assert web.post(f"/runs/{run_id}/cancel", data={"csrf": "forged"}).status_code == 403
    assert cancel_requested(redis_conn, run_id) is None
    assert web.post(f"/runs/{run_id}/cancel", data={"csrf": _csrf(web)}).status_code == 303
    assert cancel_requested(redis_conn, run_id) == "alice"


def test_retry_goes_the_way_of_a_retry_comment(web, forges, redis_conn, settings):
    run_id = ask(redis_conn, settings)
    update_run(redis_conn, run_id, status="failed")
    sign_in(web, forges[0], github_oauth, "alice")
    resp = web.post(f"/runs/{run_id}/retry", data={"csrf": _csrf(web)})
    assert resp.status_code == 303
    new_id = resp.headers["Location"].rsplit("/", 1)[1]
    task = load_task(redis_conn, new_id)
    assert new_id != run_id and task.trigger.command.kind == "retry" and task.trigger.author == "alice"
    assert load_run(redis_conn, new_id).status == "queued" and redis_conn.llen(f"rq:queue:{settings.queue}") == 2
    queue = make_queue(redis_conn, settings.queue)
    first, double_click = (retry_run(queue, run_id, "alice", 600, now=1000.0 + n) for n in (0, 3))
    assert first.run_id == double_click.run_id and double_click.duplicate and first.run_id != new_id


def test_a_callback_with_a_foreign_state_is_refused(web, forges):
    github_oauth.sign_in_as(forges[0], "alice")
    web.get("/signin/github")
    resp = web.get("/signin/github/callback?code=abc&state=not-the-one")
    assert resp.status_code == 400 and "did not start here" in resp.get_data(as_text=True)
    assert 'id="me"' not in web.get("/signin").get_data(as_text=True)


def test_sign_out_ends_the_server_side_session(web, forges, redis_conn, settings):
    run_id = ask(redis_conn, settings)
    sign_in(web, forges[0], github_oauth, "alice")
    assert web.post("/signout", data={"csrf": _csrf(web)}).status_code == 302
    assert not redis_conn.keys("codexbot:session:*") and web.get(f"/runs/{run_id}").status_code == 403


def _csrf(client) -> str:
    client.get("/signin")  # any page a signed-in viewer opens holds the form token
    with client.session_transaction() as session:
        return session.get("csrf", "")


@pytest.mark.parametrize("target", ["//evil.example", "/\t/evil.example", "/\\evil.example", "/\n/evil.example",
                                    "https://evil.example/", " /evil.example"])
def test_sign_in_never_sends_anyone_off_the_site(app, target):
    from bot.pages.signin import _safe_next

    with app.test_request_context():
        assert _safe_next(target) == url_for("history.list_runs")
        assert _safe_next("/runs?repo=octo%2Fcalc") == "/runs?repo=octo%2Fcalc"
