"""`codexbot migrate`: bring the records in Redis up to this release's schema version."""

from __future__ import annotations

import click
import redis

from jobs.settings import SettingsError, load_settings


@click.command("migrate")
@click.option("--dry-run", is_flag=True, help="Count the records that would change; change nothing.")
@click.pass_context
def migrate_command(ctx: click.Context, dry_run: bool) -> None:
    """Migrate stored runs to this release's schema (safe to run again; web and workers may keep running)."""
    from jobs.records.schema import SchemaError, migrate

    try:
        settings = load_settings(config_path=(ctx.obj or {}).get("config_path"))
        conn = redis.Redis.from_url(settings.redis_url, socket_timeout=30)
        report = migrate(conn, dry_run=dry_run)
    except (SettingsError, SchemaError) as exc:
        raise click.ClickException(str(exc)) from None
    except redis.RedisError as exc:
        raise click.ClickException(f"Redis at CODEXBOT_REDIS_URL does not answer ({type(exc).__name__}): "
                                   "start it or fix the URL") from None
    for line in report.lines():
        click.echo(("dry run: " if dry_run else "") + line)
