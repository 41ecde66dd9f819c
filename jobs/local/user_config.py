"""The terminal's settings: defaults, the user's config.toml (with profiles), the repository's .codexbot.toml,
the environment and flags, each over the one before; every value remembers where it came from."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

from jobs.settings import Settings

# name: (type, environment variable, default)
KEYS: dict[str, tuple[type, str, Any]] = {
    "model": (str, "CODEXBOT_MODEL", Settings.model),
    "openai_base_url": (str, "OPENAI_BASE_URL", ""),
    "model_api": (str, "CODEXBOT_MODEL_API", ""),
    "reasoning_effort": (str, "CODEXBOT_REASONING_EFFORT", ""),
    "model_max_tokens": (int, "CODEXBOT_MODEL_MAX_TOKENS", 0),  # one answer's cap; 0: the adapter's default
    "context_tokens": (int, "CODEXBOT_CONTEXT_TOKENS", Settings.context_tokens),  # a small local server: lower
    "max_tokens": (int, "CODEXBOT_MAX_TOKENS", 0),
    "max_cost": (float, "CODEXBOT_MAX_COST", 0.0),
    "agent_seconds": (int, "CODEXBOT_AGENT_SECONDS", Settings.agent_seconds),
    "sandbox": (str, "CODEXBOT_SANDBOX", Settings.sandbox),
    "server_url": (str, "CODEXBOT_SERVER_URL", ""),
    "api_token": (str, "CODEXBOT_API_TOKEN", ""),
    "auto_apply": (bool, "CODEXBOT_AUTO_APPLY", False),
}
SETTINGS_KEYS = ("model", "openai_base_url", "model_api", "reasoning_effort", "model_max_tokens", "context_tokens",
                 "max_tokens", "max_cost", "agent_seconds", "sandbox")
# the values the server's settings would refuse (jobs/settings.check_settings), refused here with the file named
RANGES = {"model_max_tokens": (lambda n: n == 0 or 256 <= n <= 1_000_000, "0 (automatic) or between 256 and 1000000"),
          "context_tokens": (lambda n: n >= 0, "0 (never shorten) or more"),
          "max_tokens": (lambda n: n >= 0, "0 (no limit) or more"), "max_cost": (lambda n: n >= 0, "0 (no limit) or more"),
          "agent_seconds": (lambda n: n >= 60, "at least 60")}
# a cloned repository must not redirect the model key or the API token, nor apply changes unasked
REPO_KEYS = ("model", "reasoning_effort", "max_tokens", "max_cost", "agent_seconds")
SECRET_KEYS = ("api_token",)
REPO_TABLE = "cli"


class UserConfigError(ValueError):
    """A config file is wrong; the message names the file and the key."""


@dataclass(frozen=True)
class Value:
    value: Any
    source: str  # "default", "user config ~/.config/codexbot/config.toml", "profile work (…)", "repo …", …


def user_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """$XDG_CONFIG_HOME/codexbot/config.toml, else ~/.config/codexbot/config.toml."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".config")
    return Path(base) / "codexbot" / "config.toml"


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise UserConfigError(f"{path} is not valid TOML: {exc}") from None


def _convert(name: str, raw: Any, where: str) -> Any:
    kind = KEYS[name][0]
    if kind is bool and isinstance(raw, str):
        if raw.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return raw.lower() in ("1", "true", "yes", "on")
    elif kind is bool and isinstance(raw, bool):
        return raw
    elif kind in (int, float) and not isinstance(raw, bool):
        try:
            value = kind(raw)
        except (TypeError, ValueError):
            pass
        else:
            fits, words = RANGES.get(name, (lambda n: True, ""))
            if not fits(value):
                raise UserConfigError(f"{where}: {name} must be {words}, not {raw!r}")
            return value
    elif kind is str and isinstance(raw, str):
        return raw
    raise UserConfigError(f"{where}: {name} must be {kind.__name__ if kind is not bool else 'true or false'}, "
                          f"not {raw!r}")


def _layer(table: dict, allowed: tuple[str, ...], where: str) -> dict[str, Any]:
    values = {}
    for name, raw in table.items():
        if name not in allowed:
            raise UserConfigError(f"{where}: unknown setting {name!r}; the settings are {', '.join(allowed)}")
        values[name] = _convert(name, raw, where)
    return values


def user_layers(path: Path, profile: str | None) -> list[tuple[str, dict[str, Any]]]:
    """The user file's top level, then the chosen profile (--profile, else `profile = "…"` in the file)."""
    data = _read(path)
    profiles = data.pop("profile", {})
    chosen = profile or data.pop("default_profile", None)
    data.pop("default_profile", None)
    layers = [(f"user config {path}", _layer(data, tuple(KEYS), str(path)))]
    if chosen:
        if not isinstance(profiles, dict) or chosen not in profiles:
            known = ", ".join(profiles) if isinstance(profiles, dict) and profiles else "none"
            raise UserConfigError(f"there is no [profile.{chosen}] in {path} (profiles: {known})")
        layers.append((f"profile {chosen} in {path}", _layer(profiles[chosen], tuple(KEYS), f"{path} [profile.{chosen}]")))
    return layers


def repo_layer(checkout: Path | None) -> list[tuple[str, dict[str, Any]]]:
    """The [cli] table of the checkout's .codexbot.toml: only model and limits."""
    if checkout is None:
        return []
    path = checkout / ".codexbot.toml"
    table = _read(path).get(REPO_TABLE, {})
    if not isinstance(table, dict):
        raise UserConfigError(f"{path}: [{REPO_TABLE}] must be a table")
    return [(f"repo file {path} [{REPO_TABLE}]", _layer(table, REPO_KEYS, f"{path} [{REPO_TABLE}]"))]


def effective(*, profile: str | None = None, checkout: Path | None = None, flags: Mapping[str, Any] | None = None,
              environ: Mapping[str, str] | None = None, path: Path | None = None) -> dict[str, Value]:
    """Every key with its value and the layer it came from: default < user < profile < repo < environment < flag."""
    environ = os.environ if environ is None else environ
    profile = profile or environ.get("CODEXBOT_PROFILE") or None
    result = {name: Value(default, "default") for name, (_, _, default) in KEYS.items()}
    env_layer = {name: _convert(name, environ[var], f"environment {var}")
                 for name, (_, var, _) in KEYS.items() if environ.get(var)}
    layers = user_layers(path or user_config_path(environ), profile) + repo_layer(checkout)
    layers.append(("environment", env_layer))
    layers.append(("flag", {k: v for k, v in (flags or {}).items() if v is not None}))
    for source, values in layers:
        for name, value in values.items():
            if source.startswith("repo ") and not _within_budget(name, value, result[name].value):
                continue  # a cloned repository may tighten the user's limits, never loosen them
            label = f"environment {KEYS[name][1]}" if source == "environment" else \
                f"flag --{name.replace('_', '-')}" if source == "flag" else source
            result[name] = Value(value, label)
    return result


LIMIT_KEYS = ("max_tokens", "max_cost", "agent_seconds")  # 0 means no limit for the first two


def _within_budget(name: str, value: Any, current: Any) -> bool:
    if name not in LIMIT_KEYS:
        return True
    if name == "agent_seconds":
        return value <= current
    return current == 0 or 0 < value <= current


def apply_to_settings(settings: Settings, values: dict[str, Value]) -> Settings:
    """The server-style settings `codexbot run` uses, with the user's choices over them."""
    chosen = {name: values[name].value for name in SETTINGS_KEYS
              if values[name].source not in ("default",) and not values[name].source.startswith("environment")}
    return replace(settings, **chosen) if chosen else settings


def shown(name: str, value: Any) -> str:
    """A value as `config show` prints it: secrets only by their first characters."""
    if name in SECRET_KEYS and value:
        return str(value)[:8] + "…"
    return repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
