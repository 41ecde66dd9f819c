"""`codexbot token create|list|revoke`: the per-user tokens that `codexbot delegate` and /api/ take."""

from __future__ import annotations

import time

import click

from jobs.access.api_tokens import ApiTokens, TokenError
from jobs.settings import SettingsError, load_settings


def _tokens(ctx: click.Context) -> ApiTokens:
    import redis

    try:
        settings = load_settings(config_path=(ctx.find_root().obj or {}).get("config_path"))
        return ApiTokens(redis.Redis.from_url(settings.redis_url, socket_timeout=5), settings.secret_key)
    except (SettingsError, TokenError) as exc:
        raise click.ClickException(str(exc)) from None


def _day(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(stamp)) if stamp else "never"


@click.group("token")
def token_group() -> None:
    """API tokens for `codexbot delegate` and the JSON API, stored hashed in Redis."""


@token_group.command("create")
@click.option("--user", required=True, help="The forge login runs are started as (its permission is checked).")
@click.option("--repo", "repos", multiple=True, required=True,
              help="A repository the token may start runs on: owner/name, or gitlab:group/project. Repeatable.")
@click.option("--expires-days", type=int, default=None, help="Days until the token stops working (default: never).")
@click.pass_context
def create_token(ctx: click.Context, user: str, repos: tuple[str, ...], expires_days: int | None) -> None:
    """Create a token and print it once; only its keyed hash is kept."""
    try:
        token, text = _tokens(ctx).create(user, list(repos), expires_days)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(text)
    click.echo(f"token {token.token_id} for {user} on {', '.join(token.scopes)}, expires {_day(token.expires_at)}; "
               "it is shown only now: put it in ~/.config/codexbot/config.toml as api_token", err=True)


@token_group.command("list")
@click.pass_context
def list_tokens(ctx: click.Context) -> None:
    """The tokens (id, user, repositories, created, expires), never their secrets."""
    for token in _tokens(ctx).list():
        state = " (expired)" if token.expired() else ""
        click.echo(f"{token.token_id}  {token.user}  {','.join(token.scopes)}  created {_day(token.created_at)}  "
                   f"expires {_day(token.expires_at)}{state}")


@token_group.command("revoke")
@click.argument("token_id")
@click.pass_context
def revoke_token(ctx: click.Context, token_id: str) -> None:
    """Revoke token TOKEN_ID (the id `token list` shows); it stops working at once."""
    if not _tokens(ctx).revoke(token_id):
        raise click.ClickException(f"there is no token {token_id}: `codexbot token list` shows the ids")
    click.echo(f"revoked token {token_id}")
