"""`codexbot config show`: each terminal setting's effective value and the layer it came from."""

from __future__ import annotations

from pathlib import Path

import click

from cli.remote import user_values
from jobs.local.checkout import CheckoutError, find_checkout
from jobs.local.user_config import KEYS, shown, user_config_path


@click.group("config")
def config_group() -> None:
    """The terminal's settings: ~/.config/codexbot/config.toml, profiles, the repository's .codexbot.toml."""


@config_group.command("show")
@click.pass_context
def show_config(ctx: click.Context) -> None:
    """Print every setting with its value and where it came from (default, user config, profile, repo file,
    environment, flag)."""
    try:
        checkout = find_checkout(Path.cwd())
    except CheckoutError:
        checkout = None
    values = user_values(ctx, checkout)
    click.echo(f"# user config: {user_config_path()}")
    width = max(len(name) for name in KEYS)
    for name, value in values.items():
        click.echo(f"{name:<{width}}  {shown(name, value.value):<30}  ({value.source})")
