"""The run page in a real browser: headless Debian Chromium driven by Playwright, against the real web app.

The worker's side is played by the test through the same jobs.records.runs functions the pipeline calls, so the
timing is exact: lines are appended while the page is open and must arrive live over Server-Sent Events.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from bot import create_app
from jobs.access.links import sign_run_link
from jobs.records.runs import append_log, record_phase, store_diff, transcript_key, update_run
from tests.emulators.serving import BackgroundServer

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
RUN = "b10c0ffee0000001"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (never a downloaded browser)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def web(settings, redis_conn):
    server = BackgroundServer(create_app(settings))
    server.start()
    yield server
    server.stop()


def artifacts() -> Path:
    folder = Path(os.environ.get("CODEXBOT_TEST_ARTIFACTS") or ROOT / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def start_run(conn) -> None:
    conn.hset(f"codexbot:run:{RUN}", mapping={
        "status": "running", "repo": "octo/calc", "number": "3", "requester": "alice", "created_at": repr(time.time()),
        "started_at": repr(time.time()),
        "trigger": json.dumps({"forge": "github", "url": "http://127.0.0.1/octo/calc/issues/3", "title": "Tests fail",
                               "is_pull_request": False, "command": "task"})})
    record_phase(conn, RUN, "checking out")
    append_log(conn, RUN, "phase: checking out")


def finish_run(conn) -> None:
    record_phase(conn, RUN, "tests")
    store_diff(conn, RUN, "--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n+    return a + b\n")
    conn.set(transcript_key(RUN), json.dumps({"steps": [{"step": 1, "response": {"content": "The sign is wrong."},
                                                         "usage": {"prompt_tokens": 90, "completion_tokens": 12}, "tool_calls": []}]}))
    update_run(conn, RUN, tests={"command": "python3 -m pytest -q", "exit_code": 0, "passed": 1, "failed": 0, "errors": 0,
                                 "output": "1 passed in 0.01s"}, pr_url="http://127.0.0.1/octo/calc/pull/4")
    append_log(conn, RUN, "run succeeded: opened pull request")
    update_run(conn, RUN, status="succeeded")


def test_a_running_run_page_shows_log_lines_live_then_the_diff_and_tests(web, page, settings, redis_conn):
    start_run(redis_conn)
    page.goto(sign_run_link(web.url, settings.secret_key, RUN))
    log = page.locator("#log")
    assert "phase: checking out" in log.inner_text() and page.locator("#status").inner_text() == "running"
    for n in range(3):
        append_log(redis_conn, RUN, f"step {n + 1}: <b>shell</b> {'ran'}")
        expect(log).to_contain_text(f"step {n + 1}:")  # polls the DOM; the strict CSP forbids eval
    assert log.inner_text().count("step 2:") == 1 and "<b>shell</b>" in log.inner_text()  # shown as text, once
    page.screenshot(path=str(artifacts() / "run-live.png"), full_page=True)

    finish_run(redis_conn)
    page.wait_for_selector("#diff .diff")  # the page reloads itself when the stream ends
    assert page.locator("#status").inner_text() == "succeeded"
    assert "+    return a + b" in page.locator("#diff").inner_text()
    assert "1 passed, 0 failed" in page.locator("#tests").inner_text()
    assert "The sign is wrong." in page.locator("#transcript").inner_text()
    assert page.locator("#pr").get_attribute("href") == "http://127.0.0.1/octo/calc/pull/4"
    assert page.locator("#log").inner_text().count("step 3:") == 1
    page.screenshot(path=str(artifacts() / "run-finished.png"), full_page=True)


def test_an_expired_signed_link_leads_to_a_clear_error_page(web, page, settings, redis_conn):
    start_run(redis_conn)
    response = page.goto(sign_run_link(web.url, settings.secret_key, RUN, ttl=-60))
    assert response.status == 403
    assert page.locator("#error").inner_text() == "Not allowed"
    assert "the link has expired: ask for /codex status to get a fresh one" in page.locator("#message").inner_text()
    page.screenshot(path=str(artifacts() / "run-expired-link.png"), full_page=True)


class _Later:
    """The web server listens before the app exists: its URL is the app's public URL (the OAuth callback)."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


def test_a_writer_signs_in_with_github_and_cancels_a_running_run(page, settings, redis_conn):
    import dataclasses

    from tests.emulators import github_oauth
    from tests.emulators.github import GitHubEmulator
    from tests.sample_repo import FILES

    github, later = GitHubEmulator().start(), _Later()
    server = BackgroundServer(later)
    server.start()
    try:
        github.create_repo("octo/calc", FILES)
        github.add_user("alice", {"octo/calc": "write"})
        github_oauth.register_client(github, "Iv1.browser", "browser-secret")
        github_oauth.sign_in_as(github, "alice")
        later.app = create_app(dataclasses.replace(settings, public_url=server.url, github_api_url=github.url,
                                                   github_client_id="Iv1.browser", github_client_secret="browser-secret"))
        start_run(redis_conn)
        page.goto(f"{server.url}/runs/{RUN}")
        assert page.locator("#error").inner_text() == "Not allowed"
        page.click("text=Sign in")
        page.click("#signin-github")  # to the GitHub emulator and straight back, signed in
        page.wait_for_url(f"{server.url}/runs/{RUN}")
        expect(page.locator("#me")).to_have_text("github: alice")
        page.click("#cancel")
        expect(page.locator(".notice")).to_contain_text("cancel requested")
        assert redis_conn.get(f"codexbot:run:{RUN}:cancel") == b"alice"
        page.screenshot(path=str(artifacts() / "run-signed-in-cancel.png"), full_page=True)
        page.goto("about:blank")  # leave the live log before the server stops
    finally:
        server.stop()
        github.stop()
