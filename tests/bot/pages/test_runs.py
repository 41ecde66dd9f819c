"""/runs: newest first, filtered, counted per status, charted per day, a page at a time."""

from __future__ import annotations

import dataclasses
import json
import re
import time

import pytest

from bot import create_app
from jobs.records.query import Filters, find_runs
from jobs.records.runs import ALL_RUNS

NOW = time.time()


def add_run(conn, n, *, repo="octo/calc", status="succeeded", requester="alice", days_ago=0.0, took=30.0):
    run_id = f"{n:016x}"
    created = NOW - days_ago * 86_400 - n  # a higher n is older
    conn.hset(f"codexbot:run:{run_id}", mapping={
        "status": status, "repo": repo, "number": "1", "requester": requester, "created_at": repr(created),
        "started_at": repr(created + 1), "finished_at": repr(created + 1 + took),
        "trigger": json.dumps({"forge": "github"})})
    conn.zadd(ALL_RUNS, {run_id: created})
    return run_id


@pytest.fixture
def operator(settings, redis_conn):
    app = create_app(dataclasses.replace(settings, admins=("ops",)))
    client = app.test_client()
    with client.session_transaction() as session:
        session["viewer"] = {"forge": "github", "login": "ops", "sid": "none"}
    return client


def ids(page_html: str) -> list[str]:
    return re.findall(r'href="/runs/([0-9a-f]{16})"', page_html)


def test_the_list_needs_sign_in(client):
    assert client.get("/runs").status_code == 403


def test_newest_first_with_filters_counts_and_a_chart(operator, redis_conn):
    add_run(redis_conn, 1, status="failed", requester="bob")
    add_run(redis_conn, 2, repo="octo/other", days_ago=1)
    add_run(redis_conn, 3, status="running", days_ago=2)
    add_run(redis_conn, 4, repo="<script>x</script>/r", days_ago=20)
    html = operator.get("/runs").get_data(as_text=True)
    assert ids(html) == [f"{n:016x}" for n in (1, 2, 3, 4)] and "&lt;script&gt;x" in html and "<script>x" not in html
    assert re.search(r'1 running</span>.*<span class="succeeded">1 succeeded</span>.*1 failed', html)  # last 14 days only
    chart = html[html.index("<svg"):html.index("</svg>")]
    assert chart.count("<rect") == 14 and "<polyline" in chart
    assert ids(operator.get("/runs?status=failed").get_data(as_text=True)) == [f"{1:016x}"]
    assert ids(operator.get("/runs?repo=octo/other").get_data(as_text=True)) == [f"{2:016x}"]
    assert ids(operator.get("/runs?requester=BOB").get_data(as_text=True)) == [f"{1:016x}"]
    assert ids(operator.get("/runs?status=bogus").get_data(as_text=True)) == [f"{n:016x}" for n in (1, 2, 3, 4)]


def test_pages_follow_each_other_without_gaps_or_repeats(operator, redis_conn):
    made = [add_run(redis_conn, n) for n in range(1, 121)]
    first = operator.get("/runs").get_data(as_text=True)
    older = re.search(r'id="older" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = operator.get(older).get_data(as_text=True)
    third = operator.get(re.search(r'id="older" href="([^"]+)"', second).group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert ids(first) + ids(second) + ids(third) == made and 'id="older"' not in third


def test_a_query_looks_at_a_bounded_number_of_runs(redis_conn):
    for n in range(1, 31):
        add_run(redis_conn, n, status="succeeded")
    add_run(redis_conn, 40, status="failed")
    page = find_runs(redis_conn, Filters(status="failed"), lambda run: True, per_page=5, scan_limit=10)
    assert page.scanned == 10 and page.runs == [] and page.older is not None  # a page saying "look further"
    pages = 0
    while page.older is not None and not page.runs and pages < 10:
        page, pages = find_runs(redis_conn, Filters(status="failed"), lambda run: True, before=page.older,
                                per_page=5, scan_limit=10), pages + 1
    assert [run.run_id for run in page.runs] == [f"{40:016x}"] and pages == 3
