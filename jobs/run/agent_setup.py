"""Build the agent for one run from the server's settings and the repository's: model, limits, prices."""

from __future__ import annotations

from typing import Callable

from jobs.agent.loop import Agent, Limits
from jobs.agent.model import default_api, make_model
from jobs.agent.prices import parse_prices
from jobs.forges.base import Forge, ForgeNotFound
from jobs.repo.config import FILE_NAME, RepoConfig
from jobs.settings import PERMISSION_LEVELS, Settings
from jobs.types import Command


def build_model(s: Settings, model_name: str, api_key: str, on_retry: Callable[[str], None]):
    """The model client the settings ask for: Responses for api.openai.com, Chat elsewhere, unless set."""
    return make_model(s.model_api or default_api(s.openai_base_url), s.openai_base_url or None, api_key,
                      model_name, s.reasoning_effort or None, s.model_timeout, max_retries=s.model_retries,
                      on_retry=on_retry)


def build_limits(s: Settings, config: RepoConfig) -> Limits:
    """The server's budgets, with the repository's own max_steps and test timeout."""
    return Limits(max_steps=config.max_steps, wall_seconds=s.agent_seconds, command_timeout=config.test_timeout,
                  max_tokens=s.max_tokens or None, max_cost=s.max_cost or None,
                  context_tokens=s.context_tokens or None)


def build_agent(s: Settings, command: Command, config: RepoConfig, sandbox, on_event: Callable[[str], None],
                should_stop: Callable[[], str | None]) -> Agent:
    """`--model` on the command wins over CODEXBOT_MODEL; the repository's max_steps over the default."""
    model = build_model(s, command.model or s.model, s.openai_api_key, on_event)
    return Agent(model, sandbox, build_limits(s, config), on_event=on_event, should_stop=should_stop,
                 prices=parse_prices(s.model_prices))


class SetupFailed(RuntimeError):
    """A `[setup] commands` entry failed; the message names it and where to fix it."""


def run_setup_commands(sandbox, config: RepoConfig, log: Callable[[str], None]) -> None:
    """The repository's setup commands, in order, in the sandbox's setup phase (network on by default)."""
    for command in config.setup_commands:
        result = sandbox.run(command, timeout=config.test_timeout)
        log(f"setup: {command} (exit {result.exit_code}, {result.duration:.1f} s)")
        if result.exit_code != 0:
            raise SetupFailed(f"the setup command `{command}` failed with exit code {result.exit_code}; "
                              f"fix [setup] in {FILE_NAME}")


# GitLab people know the roles by these names; the permission levels are GitHub's
GITLAB_ROLES = {"read": "Guest", "triage": "Reporter", "write": "Developer", "maintain": "Maintainer", "admin": "Owner",
                "none": "no role"}


def permission_problem(forge: Forge, login: str, needed: str, forge_name: str = "github") -> str | None:
    """Why this person may not start runs here (checked through the forge's API), or None."""
    try:
        level = forge.permission(login)
    except ForgeNotFound:
        level = "none"  # not a collaborator at all
    have = PERMISSION_LEVELS.index(level) if level in PERMISSION_LEVELS else -1
    if PERMISSION_LEVELS.index(needed) <= have:
        return None
    if forge_name == "gitlab":
        return (f"@{login} needs the {GITLAB_ROLES[needed]} role or higher in this project to run codexbot, "
                f"and has {GITLAB_ROLES.get(level, level)}; nothing was run")
    return f"@{login} needs {needed} access to this repository to run codexbot, and has {level}; nothing was run"
