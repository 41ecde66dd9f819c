"""The one place where concrete classes are chosen: the forge adapter for a trigger, the model adapter the
settings name, the sandbox backend, and the agent built from them. Everything else knows the protocols."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable

from jobs import metrics
from jobs.agent.chat_model import ChatModel
from jobs.agent.loop import Agent, Limits
from jobs.agent.model import API_KINDS, Model, default_api
from jobs.agent.prices import parse_prices
from jobs.agent.responses_model import ResponsesModel
from jobs.forges.base import Forge
from jobs.forges.github import GitHubForge
from jobs.forges.github_app import GitHubApp, find_installation, load_private_key
from jobs.forges.gitlab import GitLabForge
from jobs.forges.gitlab_tokens import TokenStore
from jobs.forges.retrying import ApiWatch
from jobs.repo.config import RepoConfig
from jobs.sandbox import BubblewrapSandbox, RunBudget, Sandbox, SandboxLimits, SubprocessSandbox
from jobs.sandbox.allowlist import DEFAULT_ALLOW, Allowlist, operator_domains, upstreams_for_tests
from jobs.sandbox.bubblewrap import check_bwrap
from jobs.sandbox.fence import Fence, FencePolicy, Refusal
from jobs.settings import Services
from jobs.settings import Settings, SettingsError
from jobs.types import Command, Trigger

log = logging.getLogger("codexbot.sandbox")
_apps: dict[tuple[str, str, str], GitHubApp] = {}


def github_app(services: Services) -> GitHubApp:
    """One App per worker process, so installation tokens are cached across the jobs it runs."""
    s = services.settings
    if not s.github_app_id or not s.github_private_key_path:
        raise SettingsError("CODEXBOT_GITHUB_APP_ID and CODEXBOT_GITHUB_PRIVATE_KEY_PATH must be set to act on GitHub")
    key = (s.github_api_url, s.github_app_id, s.github_private_key_path)
    if key not in _apps:
        _apps[key] = GitHubApp(s.github_api_url, s.github_app_id, load_private_key(s.github_private_key_path))
    return _apps[key]


def connect_forge(services: Services, trigger: Trigger, log: Callable[[str], None] | None = None,
                  ) -> tuple[Forge, Callable[[], Iterable[str]]]:
    """make_forge, after asking GitHub for the App's installation when the trigger came from a terminal."""
    if trigger.delegation is not None and trigger.forge == "github":
        installation_id, repo_id = find_installation(github_app(services), services.settings.github_api_url,
                                                     trigger.repo)
        trigger = replace(trigger, installation_id=installation_id, repo_id=repo_id)
    return make_forge(services, trigger, log)


def make_forge(services: Services, trigger: Trigger, log: Callable[[str], None] | None = None,
               ) -> tuple[Forge, Callable[[], Iterable[str]]]:
    """The forge for this trigger's repository, and a way to list the secrets it uses.

    log: where the adapter's retry waits go (the run log, through its redactor); without it, nowhere.
    """
    watch = api_watch(services, trigger.forge, log)
    if trigger.forge == "gitlab":
        return gitlab_forge(services, trigger, watch)
    if trigger.installation_id is None:
        raise SettingsError("the delivery had no App installation, so codexbot cannot act on the repository")
    app = github_app(services)
    forge = GitHubForge(app, trigger.installation_id, trigger.repo, trigger.repo_id,
                        bot_login=services.settings.github_bot_login, watch=watch,
                        backoff=services.settings.forge_backoff)
    return forge, app.secrets


def gitlab_forge(services: Services, trigger: Trigger, watch: ApiWatch | None = None,
                 ) -> tuple[Forge, Callable[[], Iterable[str]]]:
    """GitLab: the stored token of the project, or of its nearest group."""
    s = services.settings
    token = TokenStore(services.redis, s.secret_key).lookup(trigger.repo)
    if token is None:
        raise SettingsError(f"no GitLab token is stored for {trigger.repo}: run `codexbot gitlab add-token {trigger.repo}`")
    forge = GitLabForge(s.gitlab_url, token, trigger.repo, is_merge_request=trigger.is_pull_request,
                        number=trigger.number, watch=watch, backoff=s.forge_backoff)
    return forge, lambda: (token,)


def api_watch(services: Services, forge: str, log: Callable[[str], None] | None) -> ApiWatch:
    """Forge API calls and waits, counted in the shared metrics and (waits) written to the run log."""
    def count(name: str, labels: dict, amount: float) -> None:
        metrics.record(services.redis, name, labels, amount)

    return ApiWatch(forge, log or (lambda line: None), count)


def make_model(api: str, base_url: str | None, api_key: str, model: str, reasoning_effort: str | None = None,
               timeout: float = 120, *, max_retries: int = 4, max_tokens: int | None = None,
               on_retry: Callable[[str], None] | None = None) -> Model:
    """The model adapter for `api` (the CODEXBOT_MODEL_API setting); max_tokens caps each answer (None: the
    adapter's default)."""
    if api == "chat":
        return ChatModel(base_url, api_key, model, timeout, max_retries, reasoning_effort=reasoning_effort,
                         max_tokens=max_tokens, on_retry=on_retry)
    if api == "responses":
        return ResponsesModel(base_url, api_key, model, reasoning_effort, timeout, max_retries,
                              max_tokens=max_tokens, on_retry=on_retry)
    raise ValueError(f"the model API must be one of {', '.join(API_KINDS)}, not {api!r}")


def build_model(s: Settings, model_name: str, api_key: str, on_retry: Callable[[str], None]) -> Model:
    """The model client the settings ask for: Responses for api.openai.com, Chat elsewhere, unless set."""
    return make_model(s.model_api or default_api(s.openai_base_url), s.openai_base_url or None, api_key,
                      model_name, s.reasoning_effort or None, s.model_timeout, max_retries=s.model_retries,
                      max_tokens=s.model_max_tokens or None, on_retry=on_retry)


def build_limits(s: Settings, config: RepoConfig) -> Limits:
    """The server's budgets, with the repository's own max_steps and test timeout."""
    return Limits(max_steps=config.max_steps, wall_seconds=s.agent_seconds, command_timeout=config.test_timeout,
                  max_tokens=s.max_tokens or None, max_cost=s.max_cost or None,
                  context_tokens=s.context_tokens or None)


def build_agent(s: Settings, command: Command, config: RepoConfig, sandbox: Sandbox, on_event: Callable[[str], None],
                should_stop: Callable[[], str | None], **role) -> Agent:
    """`--model` on the command wins over CODEXBOT_MODEL; the repository's max_steps over the default. `role`:
    another job's toolbox and rules (a review's)."""
    model = build_model(s, command.model or s.model, s.openai_api_key, on_event)
    return Agent(model, sandbox, build_limits(s, config), on_event=on_event, should_stop=should_stop,
                 prices=parse_prices(s.model_prices), **role)


def network_policy(s: Settings, config: RepoConfig, log: Callable[[str], None] | None = None) -> FencePolicy:
    """What a run's fenced phases may reach: the operator's list, plus the repository's `[network] allow`
    unless CODEXBOT_NETWORK_STRICT says otherwise (then the run log says it was ignored)."""
    base = Allowlist(operator_domains(s.network_allow), upstreams_for_tests(s.network_test_upstreams))
    base = base.extended(tuple(base.test_upstreams))
    if s.network_strict:
        if config.network_allow and log is not None:
            log("[network] allow in .codexbot.toml is ignored: the operator set CODEXBOT_NETWORK_STRICT")
        return FencePolicy(base, "the operator may allow it in CODEXBOT_NETWORK_ALLOW "
                                 "(CODEXBOT_NETWORK_STRICT: [network] allow in .codexbot.toml is ignored)")
    return FencePolicy(base.extended(config.network_allow))


def log_refusal(log: Callable[[str], None], conn=None) -> Callable[[Refusal], None]:
    """Each refused connection: one line in the run log, and counted in /metrics when there is a Redis."""
    def report(refusal: Refusal) -> None:
        if refusal.line:
            log(refusal.line + (f" ({refusal.count} connections)" if refusal.count > 1 else ""))
        if conn is not None:
            metrics.record(conn, "egress_refused", {"phase": refusal.phase, "kind": refusal.kind}, refusal.count)
    return report


DEFAULT_FENCE = FencePolicy(Allowlist(DEFAULT_ALLOW))


def sandbox_limits(s: Settings) -> SandboxLimits:
    """The server's limits of one command and one run: the defaults, with the operator's disk quota."""
    return SandboxLimits(disk_mb=s.disk_mb)


def make_sandbox(kind: str, workspace: Path, *, limits: SandboxLimits | None = None, budget: RunBudget | None = None,
                 host_uid: int | None = None, host_gid: int | None = None, fence: FencePolicy | None = DEFAULT_FENCE,
                 on_refused: Callable[[Refusal], None] = lambda refusal: refusal.line and log.warning("%s", refusal.line)) -> Sandbox:
    """The backend named by the settings: bubblewrap, or a plain subprocess (development only, loudly logged);
    `budget` is shared when one run uses several sandboxes. Phases with the network on are fenced by `fence`
    (their own network namespace, out only through the egress proxy); `fence=None` gives them the host's
    network, which only `codexbot run --unfenced-network` asks for."""
    if kind == "bwrap":
        bwrap = check_bwrap()
        return BubblewrapSandbox(workspace, limits=limits, budget=budget, bwrap=bwrap, host_uid=host_uid,
                                 host_gid=host_gid,
                                 fence=Fence(fence, on_refused) if fence is not None else None)
    if kind == "subprocess":
        return SubprocessSandbox(workspace, limits=limits, budget=budget)
    raise ValueError(f"sandbox kind must be 'bwrap' or 'subprocess', not {kind!r}")
