"""Shared fixtures: a real redis-server (flushed per test), a fresh app, and the whole stack per test."""

from __future__ import annotations

import pytest
import redis

from bot import create_app
from jobs.settings import Settings
from tests.payloads import WEBHOOK_SECRET
from tests.services import RedisServer
from tests.stack import Stack



@pytest.fixture(scope="session")
def redis_server():
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_conn(redis_server):
    conn = redis.Redis.from_url(redis_server.url)
    conn.flushall()
    yield conn
    conn.close()


@pytest.fixture
def settings(redis_server, tmp_path) -> Settings:
    return Settings(redis_url=redis_server.url, data_dir=str(tmp_path / "data"),
                    github_webhook_secret=(WEBHOOK_SECRET,), secret_key="test-secret-key")


@pytest.fixture
def app(settings, redis_conn):
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def stack(redis_server, redis_conn, tmp_path):
    """The whole product on this machine; a test module that needs another setup defines its own `stack`."""
    with Stack(redis_server.url, workdir=tmp_path) as stack:
        yield stack
        assert stack.github.errors == []
