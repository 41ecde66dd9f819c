"""Setup secrets at rest: encrypted, named by rule, and a missing one is one sentence with the fix."""

import pytest

from jobs.access.setup_secrets import SecretError, SetupSecrets, secrets_key
from jobs.repo.config import RepoConfigError, parse_repo_config


def test_a_stored_secret_is_encrypted_and_read_back_by_name(redis_conn):
    store = SetupSecrets(redis_conn, "a-long-secret-key")
    store.set("octo/calc", "NPM_TOKEN", "npm-canary-123")
    assert b"npm-canary-123" not in b"".join(redis_conn.hvals(secrets_key("octo/calc")))
    assert store.values("octo/calc", ("NPM_TOKEN",)) == {"NPM_TOKEN": "npm-canary-123"}
    assert store.names("Octo/Calc") == ["NPM_TOKEN"]
    assert store.remove("octo/calc", "NPM_TOKEN") and store.names("octo/calc") == []


def test_a_missing_or_foreign_secret_is_one_sentence_with_the_command(redis_conn):
    SetupSecrets(redis_conn, "another-key").set("octo/calc", "OLD_TOKEN", "x")
    store = SetupSecrets(redis_conn, "a-long-secret-key")
    with pytest.raises(SecretError, match=r"not stored for octo/calc: run `codexbot secret set octo/calc NPM_TOKEN`"):
        store.values("octo/calc", ("NPM_TOKEN",))
    with pytest.raises(SecretError, match="another CODEXBOT_SECRET_KEY"):
        store.values("octo/calc", ("OLD_TOKEN",))


@pytest.mark.parametrize("name", ["npm_token", "PATH", "LD_PRELOAD", "GIT_SSH_COMMAND", "1TOKEN", "A-B", ""])
def test_names_the_sandbox_sets_itself_or_that_are_not_variables_are_refused(redis_conn, name):
    with pytest.raises(SecretError, match="cannot be a setup secret's name"):
        SetupSecrets(redis_conn, "k").set("octo/calc", name, "value")


def test_the_repository_names_its_setup_secrets_in_its_config():
    assert parse_repo_config('[setup]\nsecrets = ["NPM_TOKEN", "NPM_TOKEN", "PIP_INDEX_PASSWORD"]\n').setup_secrets \
        == ("NPM_TOKEN", "PIP_INDEX_PASSWORD")
    with pytest.raises(RepoConfigError, match=r"\[setup\] secrets must be a list of names"):
        parse_repo_config('[setup]\nsecrets = "NPM_TOKEN"\n')
