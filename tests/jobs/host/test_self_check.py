"""`codexbot check` against the emulators, a real Redis and real bubblewrap."""

import subprocess
import sys
from dataclasses import replace

import pytest
import redis

from jobs.host.self_check import run_checks
from tests.services import free_port
from tests.stack import ROOT, Stack


@pytest.fixture
def stack(redis_server, redis_conn, tmp_path):
    with Stack(redis_server.url, workdir=tmp_path) as stack:
        yield stack


def by_name(results):
    return {item.name: item for item in results}


def test_a_working_installation_passes_every_check(stack):
    results = by_name(run_checks(stack.settings))
    assert all(item.ok for name, item in results.items() if name != "redis password"), results
    assert set(results) == {"settings", "redis", "redis password", "data dir", "sandbox", "github app", "gitlab", "model"}
    # the tests' own Redis has no password: a warning, with the fix
    warning = results["redis password"]
    assert not warning.ok and not warning.required and "requirepass" in warning.message


def test_a_redis_with_a_password_passes_and_one_without_is_named(stack, redis_conn):
    password = "check-test-password-0123456789"
    redis_conn.config_set("requirepass", password)
    try:
        url = stack.settings.redis_url.replace("redis://", f"redis://:{password}@")
        results = by_name(run_checks(replace(stack.settings, redis_url=url), offline=True))
        assert results["redis"].ok and results["redis password"].ok, results
        assert password not in results["redis"].message + results["redis password"].message
    finally:
        redis.Redis.from_url(stack.settings.redis_url, password=password).config_set("requirepass", "")


def test_each_mistake_is_turned_into_its_fix(stack, tmp_path):
    bad_key = tmp_path / "bad.pem"
    bad_key.write_text("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    settings = replace(stack.settings, redis_url=f"redis://127.0.0.1:{free_port()}/0", secret_key="",
                       github_private_key_path=str(bad_key), data_dir=str(blocked / "data"),
                       openai_api_key="sk-wrong-key-000000000000")
    results = by_name(run_checks(settings))
    assert "CODEXBOT_REDIS_URL" in results["redis"].message and not results["redis"].ok
    assert "CODEXBOT_SECRET_KEY" in results["settings"].message
    assert "PEM RSA key" in results["github app"].message
    assert "CODEXBOT_DATA_DIR" in results["data dir"].message
    assert "OPENAI_API_KEY" in results["model"].message


def test_offline_skips_the_model(stack):
    assert "model" not in by_name(run_checks(stack.settings, offline=True))


def test_cli_exits_nonzero_and_names_what_to_fix(stack):
    env = stack.env()
    env["CODEXBOT_REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    proc = subprocess.run([sys.executable, "-m", "cli", "check", "--offline"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "ERR  redis:" in proc.stdout and "ok   github app" in proc.stdout
    assert "need fixing: redis" in proc.stderr
    ok = subprocess.run([sys.executable, "-m", "cli", "check"], env=stack.env(), cwd=ROOT,
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_gitlab_tokens_without_the_needed_scopes_are_named(stack, redis_conn):
    from jobs.forges.gitlab_tokens import TokenStore

    stack.gitlab.add_token("glpat-read-only-token-000000000", "octo", scopes=("read_repository",))
    TokenStore(redis_conn, stack.settings.secret_key).add("octo", "glpat-read-only-token-000000000")
    result = by_name(run_checks(stack.settings, offline=True))["gitlab"]
    assert not result.ok and "the token for octo lacks the api and write_repository scope(s)" in result.message


def test_a_gitlab_webhook_secret_stored_with_another_key_is_named(stack, redis_conn):
    from jobs.access.hook_secrets import HookSecrets

    HookSecrets(redis_conn, stack.settings.secret_key).set("octo", "octo-hook-secret")
    assert "1 project or group webhook secret(s) open" in by_name(run_checks(stack.settings, offline=True))["gitlab"].message
    HookSecrets(redis_conn, "an-older-secret-key").set("octo/calc", "calc-hook-secret")
    result = by_name(run_checks(stack.settings, offline=True))["gitlab"]
    assert not result.ok and "the GitLab webhook secret of octo/calc was stored with another" in result.message
