"""The repository's own settings, `.codexbot.toml`, always read from the default branch."""

from __future__ import annotations

import tomllib
import re
from dataclasses import dataclass, field

from jobs.sandbox.allowlist import AllowlistError, check_domain

FILE_NAME = ".codexbot.toml"
MAX_STEPS_LIMIT = 200


SECRET_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")


class RepoConfigError(ValueError):
    """The file is there but wrong; the message says where."""


@dataclass(frozen=True)
class RepoConfig:
    setup_commands: tuple[str, ...] = ()
    setup_secrets: tuple[str, ...] = ()  # [setup] secrets: names of stored secrets the setup commands get
    setup_cache: bool = True  # [setup] cache: keep what setup made and reuse it while nothing it depends on changed
    test_command: str | None = None
    test_timeout: int = 900
    test_baseline: bool = True  # [test] baseline: run the tests on the base first, to report what changed
    max_steps: int = 30
    agent_network: bool = False
    network_allow: tuple[str, ...] = ()  # [network] allow: domains fenced phases may reach besides the operator's
    protected_paths: tuple[str, ...] = ()  # [agent] protected_paths: globs the agent's changes to are reverted
    review_auto: bool = False  # [review] auto: review every pull request a person opens or marks ready
    ci_fix_attempts: int = 2  # [ci] fix_attempts: follow-up runs per codexbot pull request whose CI fails; 0: off
    instructions: str = ""  # AGENTS.md, filled in by the pipeline
    notes: tuple[str, ...] = field(default=())


def parse_repo_config(text: str | None) -> RepoConfig:
    """Parse the file's text (None when the repository has none)."""
    if text is None:
        return RepoConfig()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RepoConfigError(f"{FILE_NAME} is not valid TOML: {exc}") from None
    setup = _table(data, "setup")
    test = _table(data, "test")
    agent = _table(data, "agent")
    network = _table(data, "network")
    review, ci = _table(data, "review"), _table(data, "ci")
    commands = setup.get("commands", [])
    if not isinstance(commands, list) or not all(isinstance(c, str) and c.strip() for c in commands):
        raise RepoConfigError(f"{FILE_NAME}: [setup] commands must be a list of command strings")
    secrets = setup.get("secrets", [])
    if not isinstance(secrets, list) or not all(isinstance(s, str) and SECRET_NAME.match(s) for s in secrets):
        raise RepoConfigError(f"{FILE_NAME}: [setup] secrets must be a list of names such as \"NPM_TOKEN\" "
                              "(capital letters, digits and _)")
    protected = agent.get("protected_paths", [])
    if not isinstance(protected, list) or not all(isinstance(p, str) and p.strip() for p in protected):
        raise RepoConfigError(f"{FILE_NAME}: [agent] protected_paths must be a list of glob patterns")
    allow = network.get("allow", [])
    if not isinstance(allow, list) or not all(isinstance(d, str) for d in allow):
        raise RepoConfigError(f"{FILE_NAME}: [network] allow must be a list of domain names such as \"pypi.org\"")
    try:
        allow = [check_domain(domain, f"{FILE_NAME}: [network] allow") for domain in allow]
    except AllowlistError as error:
        raise RepoConfigError(str(error)) from None
    command = test.get("command")
    if command is not None and (not isinstance(command, str) or not command.strip()):
        raise RepoConfigError(f"{FILE_NAME}: [test] command must be a command string")
    return RepoConfig(
        setup_commands=tuple(commands),
        setup_secrets=tuple(dict.fromkeys(secrets)),
        setup_cache=_bool(setup, "cache", True, "[setup] cache"),
        test_command=command,
        test_timeout=_int(test, "timeout", 900, 10, 7200, "[test] timeout"),
        test_baseline=_bool(test, "baseline", True, "[test] baseline"),
        max_steps=_int(agent, "max_steps", 30, 1, MAX_STEPS_LIMIT, "[agent] max_steps"),
        agent_network=_bool(network, "agent", False, "[network] agent"),
        network_allow=tuple(dict.fromkeys(allow)),
        protected_paths=tuple(protected),
        review_auto=_bool(review, "auto", False, "[review] auto"),
        ci_fix_attempts=_int(ci, "fix_attempts", 2, 0, 10, "[ci] fix_attempts"),
    )


def _table(data: dict, name: str) -> dict:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise RepoConfigError(f"{FILE_NAME}: [{name}] must be a table")
    return value


def _int(table: dict, key: str, default: int, low: int, high: int, where: str) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise RepoConfigError(f"{FILE_NAME}: {where} must be a whole number from {low} to {high}")
    return value


def _bool(table: dict, key: str, default: bool, where: str) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise RepoConfigError(f"{FILE_NAME}: {where} must be true or false")
    return value
