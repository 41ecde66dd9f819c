"""The `codexbot` command line."""

from __future__ import annotations

import importlib

import click

from jobs.settings import SettingsError, load_settings, require_web_settings


class LazyGroup(click.Group):
    """Commands whose modules load the agent are imported only when used, so `serve` never loads it."""

    lazy = {"run": ("cli.local", "run_command"), "logs": ("cli.local", "logs_command"),
            "apply": ("cli.local", "apply_command"), "up": ("cli.up", "up_command"),
            "migrate": ("cli.migrate", "migrate_command"),
            "token": ("cli.tokens", "token_group"), "config": ("cli.config", "config_group"),
            "secret": ("cli.secrets", "secret_group"), "gitlab-hook-secret": ("cli.secrets", "hook_secret_group"),
            **{name: ("cli.remote", f"{name}_command") for name in ("delegate", "runs", "status", "cancel")}}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, name: str):
        if name in self.lazy:
            module, attr = self.lazy[name]
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="A codexbot.toml with settings (names as the environment variables, in lower case).")
@click.option("--profile", default=None,
              help="A [profile.NAME] of ~/.config/codexbot/config.toml for run, delegate and the other terminal commands.")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, profile: str | None) -> None:
    """codexbot: delegate coding tasks from GitHub and GitLab comments to an agent.

    Settings come from CODEXBOT_* environment variables (and OPENAI_* for the model),
    optionally from a codexbot.toml; see the README for the list.
    """
    ctx.obj = {"config_path": config_path, "profile": profile}


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--workers", default=0, type=click.IntRange(0, 64),
              help="web server processes (default: CODEXBOT_WEB_WORKERS, else one per core).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int) -> None:
    """Run the web side (granian): webhooks, run pages, /metrics and /healthz."""
    from bot import create_app
    from bot.logs import configure_logging
    from bot.server import serve as run_server

    settings = _settings(ctx)
    try:
        require_web_settings(settings)
        app = create_app(settings)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    configure_logging(buffered=True)
    run_server(app, host, port, workers or settings.web_workers, settings.web_threads)


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queue is empty (for tests and one-off runs).")
@click.option("--name", default=None, help="A name for this worker (default: RQ picks one).")
@click.option("--queue", "queues", multiple=True, type=click.Choice(["control", "runs"]),
              help="Only these queues (default both, control first). A `--queue control` worker keeps "
                   "help/status/cancel quick while other workers are busy with runs.")
@click.pass_context
def worker(ctx: click.Context, burst: bool, name: str | None, queues: tuple[str, ...]) -> None:
    """Run queued tasks: checkout, agent in the sandbox, tests, pull request."""
    from bot.logs import configure_logging
    from jobs.worker import run_worker

    settings = _settings(ctx)
    configure_logging()
    try:
        run_worker(settings, burst=burst, name=name, queues=queues)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.option("--offline", is_flag=True, help="Skip the request to the model API.")
@click.pass_context
def check(ctx: click.Context, offline: bool) -> None:
    """Check the settings and every connection; one line per item with what to fix."""
    from jobs.host.self_check import run_checks

    results = run_checks(_settings(ctx), offline=offline)
    for item in results:
        mark = "ok " if item.ok else ("ERR" if item.required else "warn")
        click.echo(f"{mark}  {item.name}: {item.message}")
    failed = [item.name for item in results if not item.ok and item.required]
    if failed:
        raise click.ClickException(f"{len(failed)} required item(s) need fixing: {', '.join(failed)}")


@main.group()
def setup() -> None:
    """Connect codexbot to a forge."""


@setup.command("github")
@click.option("--org", default=None, help="Create the App in this organization instead of your account.")
@click.option("--public-url", default=None, help="Where GitHub reaches this server (default: CODEXBOT_PUBLIC_URL).")
@click.option("--github-url", default="https://github.com", show_default=True, help="GitHub's web address (GHES: yours).")
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False, exists=True), default=None,
              help="The App manifest (default: app.yml here or in the codexbot checkout).")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port of the local page.")
@click.option("--timeout", default=900, show_default=True, help="Seconds to wait for you to finish on GitHub.")
@click.pass_context
def setup_github(ctx: click.Context, org, public_url, github_url, manifest_path, port, timeout) -> None:
    """Create the GitHub App through GitHub's manifest flow and save its credentials in the config."""
    from pathlib import Path

    from cli.setup_github import ManifestFlow, SetupError, load_manifest

    config_path = Path(ctx.obj.get("config_path") or "codexbot.toml")
    try:  # the config file is what this command creates: it need not exist yet
        settings = load_settings(config_path=str(config_path) if config_path.exists() else None)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    manifest_file = Path(manifest_path) if manifest_path else _default_manifest()
    flow = ManifestFlow({}, github_url, settings.github_api_url, org, config_path, port)
    flow.manifest = load_manifest(manifest_file, public_url or settings.public_url, flow.url + "callback")
    click.echo(f"Open {flow.url} in your browser and create the App on GitHub.")
    try:
        result = flow.wait(timeout)
    except SetupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created the GitHub App {result.slug} (id {result.app_id}).")
    click.echo(f"Saved its settings in {result.config_path} and its private key in {result.key_path} (mode 600).")
    click.echo(f"Now install it on your repositories: {result.install_url}")


@main.group()
def gitlab() -> None:
    """GitLab project and group access tokens, stored encrypted in Redis."""


@gitlab.command("add-token")
@click.argument("path")
@click.option("--token-stdin", is_flag=True, help="Read the token from standard input instead of prompting.")
@click.pass_context
def gitlab_add_token(ctx: click.Context, path: str, token_stdin: bool) -> None:
    """Store the access token for PATH (a project such as group/app, or a whole group).

    The token needs the api and write_repository scopes. It is read from a hidden prompt (or stdin),
    never from the command line, and kept encrypted with CODEXBOT_SECRET_KEY.
    """
    import sys

    token = sys.stdin.readline().strip() if token_stdin else click.prompt("Token", hide_input=True).strip()
    if not token:
        raise click.ClickException("no token was given")
    _token_store(ctx).add(path, token)
    click.echo(f"Stored the GitLab token for {path}.")


@gitlab.command("remove-token")
@click.argument("path")
@click.pass_context
def gitlab_remove_token(ctx: click.Context, path: str) -> None:
    """Forget the stored token for PATH."""
    if not _token_store(ctx).remove(path):
        raise click.ClickException(f"no token is stored for {path}")
    click.echo(f"Removed the GitLab token for {path}.")


@gitlab.command("tokens")
@click.pass_context
def gitlab_tokens(ctx: click.Context) -> None:
    """List the projects and groups that have a stored token (not the tokens)."""
    for path in _token_store(ctx).paths():
        click.echo(path)


@main.command()
@click.argument("run_id")
@click.option("--keep", is_flag=True, help="Keep the replay's checkout and print where it is.")
@click.pass_context
def replay(ctx: click.Context, run_id: str, keep: bool) -> None:
    """Re-run a recorded run from its transcript (no model calls) and compare the diff and the tests (a review:
    on the commit it reviewed, and compare its findings)."""
    from jobs.settings import build_services
    from jobs.run.replay import ReplayError, replay_stored_run

    services = build_services(_settings(ctx))
    try:
        result, checkout = replay_stored_run(services, run_id, keep=keep, on_event=click.echo)
    except (ReplayError, SettingsError) as exc:
        raise click.ClickException(str(exc)) from None
    if result.findings is not None:
        click.echo("\n".join(f"{path}:{line} {severity}" for path, line, severity, *_ in result.findings)
                   or "(no findings)")
    else:
        click.echo(result.diff or "(no change)")
    if result.tests is not None:
        click.echo(result.tests.summary())
    if keep:
        click.echo(f"the replay's checkout is kept at {checkout}")
    if not result.matches:
        click.echo("the replay differs from the recorded run:\n" + "\n".join(f"- {m}" for m in result.mismatches))
        ctx.exit(1)
    if result.findings is not None:
        click.echo(f"the replay matches the recorded review ({len(result.findings)} findings)")
    else:
        click.echo(f"the replay matches the recorded run (diff sha256 {result.diff_sha256[:12]})")


def _token_store(ctx: click.Context):
    import redis

    from jobs.forges.gitlab_tokens import TokenStore

    settings = _settings(ctx)
    try:
        return TokenStore(redis.Redis.from_url(settings.redis_url, socket_timeout=5), settings.secret_key)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _default_manifest():
    from pathlib import Path

    for candidate in (Path("app.yml"), Path(__file__).resolve().parent.parent / "app.yml"):
        if candidate.is_file():
            return candidate
    raise click.ClickException("app.yml was not found: pass --manifest PATH")


def _settings(ctx: click.Context):
    try:
        return load_settings(config_path=ctx.obj.get("config_path"))
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None

