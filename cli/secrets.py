"""`codexbot secret set|list|rm`: secrets a repository's setup commands get (`[setup] secrets`), and
`codexbot gitlab-hook-secret set|list|rm`: GitLab webhook secrets per project or group; both stored encrypted
in Redis. Values come from standard input, never from the command line."""

from __future__ import annotations

import sys

import click

from jobs.access.hook_secrets import HookSecrets
from jobs.access.setup_secrets import SecretError, SetupSecrets
from jobs.settings import SettingsError, load_settings


def _sealed(ctx: click.Context, store: type[SetupSecrets] | type[HookSecrets]) -> SetupSecrets | HookSecrets:
    """A store of sealed secrets on the server's Redis, with the server's secret key."""
    import redis

    try:
        settings = load_settings(config_path=(ctx.find_root().obj or {}).get("config_path"))
        return store(redis.Redis.from_url(settings.redis_url, socket_timeout=5), settings.secret_key)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _store(ctx: click.Context) -> SetupSecrets:
    return _sealed(ctx, SetupSecrets)


@click.group("secret")
def secret_group() -> None:
    """Secrets for a repository's setup commands only (never the agent, the tests or the logs)."""


@secret_group.command("set")
@click.argument("repo")
@click.argument("name")
@click.pass_context
def set_secret(ctx: click.Context, repo: str, name: str) -> None:
    """Store NAME for REPO (owner/name or group/project); the value is read from standard input.

    List NAME under [setup] secrets in the repository's .codexbot.toml to give it to the setup commands.
    """
    value = sys.stdin.read().rstrip("\n")
    try:
        _store(ctx).set(repo, name, value)
    except SecretError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Stored the setup secret {name} for {repo}.")


@secret_group.command("list")
@click.argument("repo")
@click.pass_context
def list_secrets(ctx: click.Context, repo: str) -> None:
    """The names of REPO's setup secrets (not their values)."""
    for name in _store(ctx).names(repo):
        click.echo(name)


@secret_group.command("rm")
@click.argument("repo")
@click.argument("name")
@click.pass_context
def remove_secret(ctx: click.Context, repo: str, name: str) -> None:
    """Forget REPO's setup secret NAME."""
    if not _store(ctx).remove(repo, name):
        raise click.ClickException(f"no setup secret {name} is stored for {repo}")
    click.echo(f"Removed the setup secret {name} of {repo}.")


@click.group("gitlab-hook-secret")
def hook_secret_group() -> None:
    """GitLab webhook secrets per project or group; a project that has one (or whose group has one) is no
    longer admitted by CODEXBOT_GITLAB_WEBHOOK_SECRET."""


def _hook_secrets(ctx: click.Context) -> HookSecrets:
    return _sealed(ctx, HookSecrets)


@hook_secret_group.command("set")
@click.argument("path")
@click.pass_context
def set_hook_secret(ctx: click.Context, path: str) -> None:
    """Store the webhook secret of PATH (group/project, or a group); the value is read from standard input.

    Put the same value in the Secret token field of the project's (or group's) webhook on GitLab.
    """
    try:
        _hook_secrets(ctx).set(path, sys.stdin.read().strip())
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Stored the GitLab webhook secret of {path}; the shared secret no longer admits its deliveries.")


@hook_secret_group.command("list")
@click.pass_context
def list_hook_secrets(ctx: click.Context) -> None:
    """The projects and groups that have their own webhook secret (not the secrets)."""
    for path in _hook_secrets(ctx).paths():
        click.echo(path)


@hook_secret_group.command("rm")
@click.argument("path")
@click.pass_context
def remove_hook_secret(ctx: click.Context, path: str) -> None:
    """Forget PATH's webhook secret (its deliveries fall back to a group's secret, else the shared one)."""
    try:
        removed = _hook_secrets(ctx).remove(path)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    if not removed:
        raise click.ClickException(f"no GitLab webhook secret is stored for {path}")
    click.echo(f"Removed the GitLab webhook secret of {path}.")
