"""The terminal's settings: user config with profiles, the repository's [cli] table, environment and flags, each
value with its source; `codexbot config show` and `codexbot token` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.settings import Settings
from jobs.local.user_config import UserConfigError, apply_to_settings, effective, user_config_path
from tests.stack import ROOT

USER_FILE = """
model = "gpt-5-codex-mini"
server_url = "https://codexbot.example.com"
auto_apply = true
default_profile = "home"

[profile.home]
openai_base_url = "http://127.0.0.1:11434/v1"
model = "qwen3-coder"

[profile.work]
api_token = "cbt_0123456789ab_secretsecretsecretsecretsecretsecret"
max_cost = 2.5
"""


@pytest.fixture
def user_file(tmp_path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(USER_FILE)
    return path


def test_the_config_path_follows_xdg():
    assert user_config_path({"XDG_CONFIG_HOME": "/x", "HOME": "/h"}) == Path("/x/codexbot/config.toml")
    assert user_config_path({"HOME": "/h"}) == Path("/h/.config/codexbot/config.toml")


def test_each_layer_overrides_the_one_before_and_says_so(user_file, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".codexbot.toml").write_text('[test]\ncommand = "pytest"\n[cli]\nmodel = "repo-model"\nmax_tokens = 9000\n')
    values = effective(path=user_file, checkout=repo, environ={"CODEXBOT_MAX_TOKENS": "500"},
                       flags={"sandbox": "subprocess", "model": None})
    assert values["model"].value == "repo-model" and values["model"].source.startswith("repo file")
    assert values["openai_base_url"].value.endswith("11434/v1") and values["openai_base_url"].source.startswith("profile home")
    assert values["server_url"].source == f"user config {user_file}" and values["auto_apply"].value is True
    assert (values["max_tokens"].value, values["max_tokens"].source) == (500, "environment CODEXBOT_MAX_TOKENS")
    assert (values["sandbox"].value, values["sandbox"].source) == ("subprocess", "flag --sandbox")
    assert values["agent_seconds"].source == "default"


def test_a_profile_chosen_by_name_replaces_the_default_profile(user_file):
    values = effective(path=user_file, profile="work", environ={})
    assert values["model"].value == "gpt-5-codex-mini" and values["max_cost"].value == 2.5
    assert values["openai_base_url"].source == "default"
    assert effective(path=user_file, environ={"CODEXBOT_PROFILE": "work"})["max_cost"].value == 2.5


def test_mistakes_name_the_file_and_the_setting(user_file, tmp_path):
    with pytest.raises(UserConfigError, match=r"no \[profile.nope\] .* \(profiles: home, work\)"):
        effective(path=user_file, profile="nope", environ={})
    user_file.write_text('modle = "x"\n')
    with pytest.raises(UserConfigError, match="unknown setting 'modle'"):
        effective(path=user_file, environ={})
    user_file.write_text('max_cost = "lots"\n')
    with pytest.raises(UserConfigError, match="max_cost must be float"):
        effective(path=user_file, environ={})


def test_a_repository_cannot_redirect_the_model_or_the_token(tmp_path):
    (tmp_path / ".codexbot.toml").write_text('[cli]\nopenai_base_url = "https://evil.example"\n')
    with pytest.raises(UserConfigError, match="unknown setting 'openai_base_url'"):
        effective(path=tmp_path / "none.toml", checkout=tmp_path, environ={})


def test_run_settings_take_the_user_choices_but_not_over_the_environment(user_file):
    values = effective(path=user_file, environ={"CODEXBOT_MODEL": "from-env"})
    settings = apply_to_settings(Settings(model="from-env"), values)
    assert settings.model == "from-env" and settings.openai_base_url == "http://127.0.0.1:11434/v1"


def codexbot(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(cwd), "LANG": "C.UTF-8"}
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_config_show_prints_every_setting_with_its_source(tmp_path, user_file):
    (tmp_path / "xdg" / "codexbot").mkdir(parents=True)
    (tmp_path / "xdg" / "codexbot" / "config.toml").write_text(USER_FILE)
    shown = codexbot(tmp_path, "--profile", "work", "config", "show",
                     env={"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "CODEXBOT_AGENT_SECONDS": "600"})
    assert shown.returncode == 0, shown.stderr
    lines = {line.split()[0]: line for line in shown.stdout.splitlines() if not line.startswith("#")}
    assert "'gpt-5-codex-mini'" in lines["model"] and "(user config " in lines["model"]
    assert "2.5" in lines["max_cost"] and "(profile work in " in lines["max_cost"]
    assert "600" in lines["agent_seconds"] and "(environment CODEXBOT_AGENT_SECONDS)" in lines["agent_seconds"]
    assert "cbt_0123…" in lines["api_token"] and "secretsecret" not in shown.stdout
    assert "(default)" in lines["sandbox"]


def test_token_create_list_revoke(tmp_path, redis_server, redis_conn):
    env = {"CODEXBOT_REDIS_URL": redis_server.url, "CODEXBOT_SECRET_KEY": "k" * 32}
    made = codexbot(tmp_path, "token", "create", "--user", "alice", "--repo", "octo/calc", "--repo",
                    "gitlab:group/app", "--expires-days", "30", env=env)
    assert made.returncode == 0, made.stderr
    text = made.stdout.strip()
    assert text.startswith("cbt_") and "shown only now" in made.stderr
    listed = codexbot(tmp_path, "token", "list", env=env).stdout
    token_id = text.split("_")[1]
    assert token_id in listed and "github:octo/calc,gitlab:group/app" in listed and text not in listed
    assert codexbot(tmp_path, "token", "revoke", token_id, env=env).returncode == 0
    again = codexbot(tmp_path, "token", "revoke", token_id, env=env)
    assert again.returncode == 1 and "there is no token" in again.stderr
    bad = codexbot(tmp_path, "token", "create", "--user", "alice", "--repo", "calc", env=env)
    assert bad.returncode == 1 and "is not a repository" in bad.stderr


def test_a_repository_may_tighten_the_users_limits_but_never_loosen_them(tmp_path):
    user = tmp_path / "config.toml"
    user.write_text("max_cost = 2.0\nagent_seconds = 600\n")
    (tmp_path / ".codexbot.toml").write_text("[cli]\nmax_cost = 50.0\nagent_seconds = 7200\nmax_tokens = 100000\n")
    values = effective(path=user, checkout=tmp_path, environ={})
    assert (values["max_cost"].value, values["agent_seconds"].value) == (2.0, 600)  # the user's budget holds
    assert values["max_tokens"].value == 100000 and values["max_tokens"].source.startswith("repo file")
    user.write_text("max_cost = 2.0\nmax_tokens = 1000\n")
    (tmp_path / ".codexbot.toml").write_text("[cli]\nmax_cost = 0.5\nmax_tokens = 0\n")
    values = effective(path=user, checkout=tmp_path, environ={})
    assert values["max_cost"].value == 0.5 and values["max_tokens"].value == 1000  # 0 means "no limit": not taken
