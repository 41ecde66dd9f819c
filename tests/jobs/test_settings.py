"""Settings come from the environment and an optional codexbot.toml, and bad ones are named."""

import pytest

from jobs.settings import Settings, SettingsError, load_settings, require_web_settings


def test_defaults_and_environment():
    s = load_settings({"CODEXBOT_GITHUB_WEBHOOK_SECRET": "a, b ,", "CODEXBOT_COMMAND": "bot",
                       "CODEXBOT_JOB_TIMEOUT": "120", "OPENAI_BASE_URL": "http://127.0.0.1:1/v1"})
    assert s.github_webhook_secret == ("a", "b")
    assert s.command == "/bot" and s.label == "codex" and s.job_timeout == 120
    assert s.openai_base_url == "http://127.0.0.1:1/v1"
    assert s.redis_url == "redis://127.0.0.1:6379/0"


def test_config_file_overlaid_by_environment(tmp_path):
    cfg = tmp_path / "codexbot.toml"
    cfg.write_text('codexbot_label = "ai"\ncommand = "/fix"\ngithub_webhook_secret = ["x", "y"]\n')
    s = load_settings({"CODEXBOT_COMMAND": "/codex"}, config_path=str(cfg))
    assert (s.label, s.command, s.github_webhook_secret) == ("ai", "/codex", ("x", "y"))


@pytest.mark.parametrize("env, name", [
    ({"CODEXBOT_COMMAND": "two words"}, "CODEXBOT_COMMAND"),
    ({"CODEXBOT_LABEL": "a,b"}, "CODEXBOT_LABEL"),
    ({"CODEXBOT_REDIS_URL": "localhost:6379"}, "CODEXBOT_REDIS_URL"),
    ({"CODEXBOT_PUBLIC_URL": "example.com"}, "CODEXBOT_PUBLIC_URL"),
    ({"CODEXBOT_JOB_TIMEOUT": "soon"}, "CODEXBOT_JOB_TIMEOUT"),
    ({"CODEXBOT_MODEL_API": "completions"}, "CODEXBOT_MODEL_API"),
])
def test_bad_values_name_the_variable(env, name):
    with pytest.raises(SettingsError, match=name):
        load_settings(env)


def test_unknown_key_in_config_file(tmp_path):
    cfg = tmp_path / "codexbot.toml"
    cfg.write_text('redis = "redis://x"\n')
    with pytest.raises(SettingsError, match="unknown setting 'redis'"):
        load_settings({}, config_path=str(cfg))


def test_missing_or_broken_config_file(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings({}, config_path=str(tmp_path / "nope.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("= =")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings({}, config_path=str(bad))


def test_web_needs_a_webhook_secret():
    with pytest.raises(SettingsError, match="CODEXBOT_GITHUB_WEBHOOK_SECRET"):
        require_web_settings(Settings())
    require_web_settings(Settings(github_webhook_secret=("s",)))


def test_secrets_are_not_in_the_repr():
    assert "sk-live" not in repr(Settings(openai_api_key="sk-live"))
