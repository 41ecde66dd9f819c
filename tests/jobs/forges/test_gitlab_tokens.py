"""TokenStore against a real Redis: encrypted at rest, the most specific path wins, clear errors."""

from __future__ import annotations

import pytest

from jobs.forges.gitlab_tokens import KEY, TokenStore
from jobs.settings import SettingsError

TOKEN = "glpat-project-0123456789abcdef"
GROUP_TOKEN = "glpat-group-fedcba9876543210"


def test_token_round_trips_and_paths_are_listed(redis_conn):
    store = TokenStore(redis_conn, "secret-one")
    store.add("acme/app", TOKEN)
    store.add("acme", GROUP_TOKEN)
    assert store.lookup("acme/app") == TOKEN
    assert store.paths() == ["acme", "acme/app"]
    assert TokenStore(redis_conn, "secret-one").lookup("acme/app") == TOKEN  # a new process, same key


def test_project_falls_back_to_its_nearest_group(redis_conn):
    store = TokenStore(redis_conn, "secret-one")
    store.add("acme", GROUP_TOKEN)
    store.add("acme/tools", "glpat-subgroup")
    assert store.lookup("acme/tools/cli") == "glpat-subgroup"
    assert store.lookup("acme/web/site") == GROUP_TOKEN
    assert store.lookup("other/app") is None
    store.add("acme/tools/cli", TOKEN)
    assert store.lookup("acme/tools/cli") == TOKEN


def test_paths_are_case_insensitive_like_gitlab(redis_conn):
    store = TokenStore(redis_conn, "secret-one")
    store.add("/Acme/App/", TOKEN)
    assert store.lookup("acme/app") == TOKEN
    assert store.remove("ACME/app") is True
    assert store.remove("acme/app") is False
    assert store.lookup("acme/app") is None and store.paths() == []


def test_tokens_are_not_stored_in_clear(redis_conn):
    TokenStore(redis_conn, "secret-one").add("acme/app", TOKEN)
    dump = b"".join(redis_conn.dump(key) or b"" for key in redis_conn.keys("*"))
    assert TOKEN.encode() not in dump
    assert TOKEN.encode() not in redis_conn.hget(KEY, "acme/app")


def test_wrong_secret_key_names_the_fix(redis_conn):
    TokenStore(redis_conn, "secret-one").add("acme/app", TOKEN)
    with pytest.raises(SettingsError) as error:
        TokenStore(redis_conn, "secret-two").lookup("acme/app")
    assert "encrypted with another CODEXBOT_SECRET_KEY" in str(error.value)
    assert "set the old key back or add the tokens again" in str(error.value)
    assert error.value.__cause__ is None and error.value.__suppress_context__


def test_missing_secret_key_is_refused_at_construction(redis_conn):
    with pytest.raises(SettingsError, match="CODEXBOT_SECRET_KEY is not set: it encrypts the stored GitLab tokens"):
        TokenStore(redis_conn, "")


@pytest.mark.parametrize("path", ["", "/", "acme//app", "acme/app.git", "acme/../x", "acme/a b"])
def test_bad_paths_and_tokens_are_refused(redis_conn, path):
    store = TokenStore(redis_conn, "secret-one")
    with pytest.raises(SettingsError, match="not a GitLab project or group path"):
        store.add(path, TOKEN)
    with pytest.raises(SettingsError, match="paste the token itself"):
        store.add("acme/app", "glpat with spaces")
