"""Pick the forge adapter for a trigger, with the credentials the worker was configured with."""

from __future__ import annotations

from typing import Callable, Iterable

from jobs import metrics
from jobs.services import Services
from jobs.forges.base import Forge
from jobs.forges.retrying import ApiWatch
from jobs.forges.github_app import GitHubApp, load_private_key
from jobs.settings import SettingsError
from jobs.types import Trigger

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
    from jobs.forges.github import GitHubForge

    app = github_app(services)
    forge = GitHubForge(app, trigger.installation_id, trigger.repo, trigger.repo_id,
                        bot_login=services.settings.github_bot_login, watch=watch,
                        backoff=services.settings.forge_backoff)
    return forge, app.secrets


def gitlab_forge(services: Services, trigger: Trigger, watch: ApiWatch | None = None,
                 ) -> tuple[Forge, Callable[[], Iterable[str]]]:
    """GitLab: the stored token of the project, or of its nearest group."""
    from jobs.forges.gitlab import GitLabForge
    from jobs.forges.gitlab_tokens import TokenStore

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


