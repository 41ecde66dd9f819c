"""rq-dashboard at /rq: operators only, and it reads codexbot's JSON-serialised jobs on the installed rq."""

from __future__ import annotations

import dataclasses

import pytest

from bot import create_app
from jobs.intake.accept import job_id_for
from tests.bot.pages.test_signin import ask


@pytest.fixture
def app(settings, redis_conn):
    return create_app(dataclasses.replace(settings, admins=("ops", "gitlab:root")))


def as_viewer(app, forge, login):
    client = app.test_client()
    with client.session_transaction() as session:
        session["viewer"] = {"forge": forge, "login": login, "sid": "unused"}
    return client


def test_anonymous_viewers_are_sent_to_sign_in_and_others_refused(app):
    resp = app.test_client().get("/rq/")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/signin?next=/rq/")
    assert as_viewer(app, "github", "alice").get("/rq/").status_code == 403
    assert as_viewer(app, "gitlab", "ops").get("/rq/").status_code == 403  # "ops" names a GitHub login
    assert as_viewer(app, "github", "alice").get("/rq/0/data/queues.json").status_code == 403


def test_an_operator_sees_the_queues_and_a_queued_job(app, redis_conn, settings):
    run_id = ask(redis_conn, settings)
    client = as_viewer(app, "gitlab", "root")
    assert client.get("/rq/").status_code == 200
    queues = client.get("/rq/0/data/queues.json").get_json()["queues"]
    assert {"name": settings.queue, "count": 1} in [{"name": q["name"], "count": q["count"]} for q in queues]
    job = client.get(f"/rq/0/data/job/{job_id_for(run_id)}.json").get_json()
    assert job["id"] == job_id_for(run_id) and run_id in job["description"]
