"""The answer cap and the context budget in the user's config.toml: shown by `codexbot config show`, used by
`codexbot run` (a small local server needs both lowered), refused with the file named when out of range."""

from __future__ import annotations

import json

import pytest

from jobs.local.user_config import UserConfigError, apply_to_settings, effective
from jobs.settings import Settings
from tests import sample_repo
from tests.emulators.openai_api import OpenAIEmulator
from tests.jobs.local.test_run import API_KEY, make_checkout
from tests.test_cli_local import codexbot

SMALL_SERVER = 'model_max_tokens = 1024\ncontext_tokens = 3000\n\n[profile.big]\ncontext_tokens = 100000\n'


def test_the_user_config_sets_the_answer_cap_and_the_context_budget(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(SMALL_SERVER)
    values = effective(path=path, environ={})
    assert (values["model_max_tokens"].value, values["context_tokens"].value) == (1024, 3000)
    assert values["model_max_tokens"].source == f"user config {path}"
    settings = apply_to_settings(Settings(), values)
    assert (settings.model_max_tokens, settings.context_tokens) == (1024, 3000)
    assert effective(path=path, profile="big", environ={})["context_tokens"].value == 100_000
    over = effective(path=path, environ={"CODEXBOT_MODEL_MAX_TOKENS": "2048"})["model_max_tokens"]
    assert (over.value, over.source) == (2048, "environment CODEXBOT_MODEL_MAX_TOKENS")
    assert effective(path=tmp_path / "none.toml", environ={})["context_tokens"].value == Settings.context_tokens


@pytest.mark.parametrize("line, words", [("model_max_tokens = 100", "model_max_tokens must be 0 (automatic) or "
                                                                     "between 256 and 1000000, not 100"),
                                         ("context_tokens = -1", "context_tokens must be 0 (never shorten) or more"),
                                         ('model_max_tokens = "lots"', "model_max_tokens must be int")])
def test_a_value_the_server_would_refuse_names_the_file_and_the_range(tmp_path, line, words):
    path = tmp_path / "config.toml"
    path.write_text(line + "\n")
    with pytest.raises(UserConfigError, match=str(path)) as refused:
        effective(path=path, environ={})
    assert words in str(refused.value)


def test_a_repository_cannot_set_the_answer_cap(tmp_path):
    (tmp_path / ".codexbot.toml").write_text("[cli]\nmodel_max_tokens = 1000000\n")
    with pytest.raises(UserConfigError, match="unknown setting 'model_max_tokens'"):
        effective(path=tmp_path / "none.toml", checkout=tmp_path, environ={})


def test_config_show_and_run_use_the_users_cap(tmp_path):
    checkout = make_checkout(tmp_path)
    (tmp_path / "xdg" / "codexbot").mkdir(parents=True)
    (tmp_path / "xdg" / "codexbot" / "config.toml").write_text(SMALL_SERVER)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    shown = codexbot(checkout, "config", "show", env=env)
    assert shown.returncode == 0, shown.stderr
    lines = {line.split()[0]: line for line in shown.stdout.splitlines() if not line.startswith("#")}
    assert "1024" in lines["model_max_tokens"] and "(user config " in lines["model_max_tokens"]
    assert "3000" in lines["context_tokens"] and "(user config " in lines["context_tokens"]

    with OpenAIEmulator(script=sample_repo.fix_script(), api_key=API_KEY) as emu:
        done = codexbot(checkout, "run", "fix the failing test", "--no-apply", "--json",
                        env={**env, "OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": emu.url + "/v1",
                             "CODEXBOT_MODEL_API": "chat"})
        caps = {body.get("max_tokens") for body in emu.requests}
    assert done.returncode == 0 and json.loads(done.stdout)["status"] == "succeeded", done.stderr
    assert caps == {1024}
    folder = checkout / ".codexbot" / "runs" / json.loads(done.stdout)["run_id"]
    assert json.loads((folder / "transcript.json").read_text())["limits"]["context_tokens"] == 3000
