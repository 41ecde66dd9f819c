"""/metrics is scraped after a real run and shows its counters, from the web side and the worker alike."""


import pytest
import requests
from dataclasses import replace

from bot import create_app
from tests import sample_repo
from tests.stack import Stack

TOKEN = "metrics-token-for-tests"


@pytest.fixture
def stack(redis_server, redis_conn, tmp_path):
    with Stack(redis_server.url, workdir=tmp_path) as stack:
        stack._lazy_app.app = create_app(replace(stack.settings, metrics_token=TOKEN))
        yield stack


def scrape(stack):
    resp = requests.get(stack.web.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert resp.status_code == 200
    return resp.text


def value(text, prefix):
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    assert lines, f"no {prefix} in\n{text}"
    return float(lines[0].rsplit(" ", 1)[1])


def test_a_run_shows_up_in_the_metrics(stack):
    number = stack.github.open_issue(sample_repo.REPO, "Tests fail", "", user="alice")["number"]
    stack.github.comment_as("alice", sample_repo.REPO, number, "/codex fix the failing test")
    stack.github.comment_as("alice", sample_repo.REPO, number, "thanks!")
    before = scrape(stack)
    assert value(before, 'codexbot_queue_depth{queue="codexbot"}') == 1
    assert value(before, 'codexbot_deliveries_total{event="issue_comment",forge="github",status="202"}') == 1
    assert value(before, 'codexbot_deliveries_total{event="issue_comment",forge="github",status="200"}') == 1
    assert stack.run_worker_burst().returncode == 0
    after = scrape(stack)
    assert value(after, 'codexbot_runs_finished_total{forge="github",outcome="succeeded"}') == 1
    assert value(after, 'codexbot_run_seconds_count{forge="github"}') == 1
    assert value(after, 'codexbot_agent_steps_total{forge="github"}') == 5
    assert value(after, 'codexbot_queue_depth{queue="codexbot"}') == 0


def test_metrics_need_the_token(stack):
    assert requests.get(stack.web.url + "/metrics", timeout=5).status_code == 401
    wrong = requests.get(stack.web.url + "/metrics", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert wrong.status_code == 401
