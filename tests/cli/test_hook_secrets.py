"""`codexbot gitlab-hook-secret set|list|rm` against a real Redis: the value comes from standard input, is
stored sealed, and is the one the web side then checks GitLab's deliveries against."""

from click.testing import CliRunner

from cli.main import main
from jobs.access.hook_secrets import KEY, HookSecrets


def run(redis_server, *args, stdin=""):
    env = {"CODEXBOT_REDIS_URL": redis_server.url, "CODEXBOT_SECRET_KEY": "cli-secret-key", "CODEXBOT_CONFIG": ""}
    return CliRunner().invoke(main, ["gitlab-hook-secret", *args], input=stdin, env=env)


def test_set_list_and_rm_a_group_secret(redis_server, redis_conn):
    done = run(redis_server, "set", "Acme/Backend", stdin="s3cret-token\n")
    assert done.exit_code == 0, done.output
    assert b"s3cret-token" not in b"".join(redis_conn.hvals(KEY))  # sealed, not in clear
    assert HookSecrets(redis_conn, "cli-secret-key").secrets_for("acme/backend/api") == ("s3cret-token",)
    assert run(redis_server, "list").output.split() == ["acme/backend"]
    assert run(redis_server, "rm", "acme/backend").exit_code == 0
    gone = run(redis_server, "rm", "acme/backend")
    assert gone.exit_code == 1 and "no GitLab webhook secret is stored for acme/backend" in gone.output


def test_an_empty_value_or_a_bad_path_is_one_sentence(redis_server, redis_conn):
    empty = run(redis_server, "set", "acme/app", stdin="\n")
    assert empty.exit_code == 1 and "paste the secret token itself" in empty.output
    bad = run(redis_server, "set", "acme/app.git", stdin="token\n")
    assert bad.exit_code == 1 and "is not a GitLab project or group path" in bad.output
    assert redis_conn.hlen(KEY) == 0
