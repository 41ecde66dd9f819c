"""A run page whose live log is refused (the server's streams are all taken: 503) still shows every line, by polling.

Headless Debian Chromium through Playwright against the real web app; the worker's side is played through the same
jobs.records.runs functions the pipeline calls.
"""

from __future__ import annotations

import dataclasses

import pytest
from playwright.sync_api import expect

from bot import create_app
from jobs.access.links import sign_run_link
from jobs.records.runs import append_log
from tests.emulators.serving import BackgroundServer
from tests.test_browser import RUN, browser, finish_run, page, start_run  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


@pytest.fixture
def web_without_streams(settings, redis_conn):
    server = BackgroundServer(create_app(dataclasses.replace(settings, web_streams=0)))  # every live log: 503
    server.start()
    yield server
    server.stop()


def test_a_page_refused_its_live_log_polls_and_still_shows_every_line_once(web_without_streams, page, settings, redis_conn):
    start_run(redis_conn)
    refused = []
    page.on("response", lambda r: refused.append(r) if "/log?" in r.url and r.status == 503 else None)
    page.goto(sign_run_link(web_without_streams.url, settings.secret_key, RUN))
    log = page.locator("#log")
    expect(log).to_have_attribute("data-mode", "polling")
    assert refused and refused[0].headers.get("retry-after") == "2"
    for n in range(3):
        append_log(redis_conn, RUN, f"step {n + 1}: <b>shell</b> ran")
        expect(log).to_contain_text(f"step {n + 1}:")
    assert log.inner_text().count("step 2:") == 1 and "<b>shell</b>" in log.inner_text()

    finish_run(redis_conn)
    page.wait_for_selector("#diff .diff")  # the page reloads itself once polling sees the run end
    assert page.locator("#status").inner_text() == "succeeded"
    assert page.locator("#log").inner_text().count("step 3:") == 1


def test_a_polling_page_stops_when_its_link_expires(web_without_streams, page, settings, redis_conn):
    start_run(redis_conn)
    page.goto(sign_run_link(web_without_streams.url, settings.secret_key, RUN, ttl=3))
    log = page.locator("#log")
    expect(log).to_have_attribute("data-mode", "polling")
    expect(log).to_have_attribute("data-mode", "stopped", timeout=8_000)  # a 403 is not asked again every 2 s
