"""`codexbot run`, `logs` and `apply` on a developer's machine: no server, no Redis, only a model."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import click

from cli.remote import remote_apply, remote_logs, user_values
from jobs.local.checkout import CheckoutError, apply_patch, find_checkout
from jobs.local.records import RecordError, RunRecord, default_runs_dir, find_run, follow_log
from jobs.local.run import LiveState, LocalResult, LocalRun, LocalRunError, check_model_settings
from jobs.access.redaction import Redactor
from jobs.settings import SettingsError, load_settings
from jobs.local.user_config import apply_to_settings

RUNS_DIR_OPTION = click.option("--runs-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                               help="Where runs are recorded (default: .codexbot/runs in the checkout).")


class Display:
    """Progress on stderr: a status line redrawn in place on a terminal, plain lines otherwise."""

    def __init__(self, stream=None, live: bool | None = None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live

    def __call__(self, line: str | None, state: LiveState) -> None:
        if self.live:
            self.stream.write("\r\033[K" + (line + "\n" if line else "") + status_line(state))
        elif line:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\r\033[K")
            self.stream.flush()


def status_line(state: LiveState) -> str:
    """One line that fits the terminal: phase, step, the command running, tokens and cost so far."""
    doing = f"$ {state.command}" if state.command else state.phase
    cost = f"${state.cost:.4f}" if state.priced else "cost unknown"
    text = (f"[step {state.step}] " if state.step else "") + f"{doing} · {state.tokens:,} tokens · {cost}"
    width = shutil.get_terminal_size().columns - 1
    return text if len(text) <= width else text[:max(width - 1, 0)] + "…"


@click.command("run")
@click.argument("task", nargs=-1, required=True)
@click.option("--apply/--no-apply", "apply_change", default=None,
              help="Apply the change to the working tree without asking (or never). Default: ask on a terminal.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout (progress stays on stderr).")
@click.option("--sandbox", type=click.Choice(["bwrap", "subprocess"]), default=None,
              help="Where commands run (default: CODEXBOT_SANDBOX, bwrap). subprocess gives no isolation.")
@click.option("--model", default=None, help="The model (default: CODEXBOT_MODEL).")
@click.option("--unfenced-network", is_flag=True,
              help="Give setup commands (and an agent with [network] agent) this machine's network, 127.0.0.1 "
                   "services and private network included, instead of the egress fence. Only where the fence "
                   "cannot be built (it needs bubblewrap and socat).")
@click.option("--keep", is_flag=True, help="Keep the run's copy of the checkout and print where it is.")
@RUNS_DIR_OPTION
@click.pass_context
def run_command(ctx: click.Context, task: tuple[str, ...], apply_change: bool | None, as_json: bool,
                sandbox: str | None, model: str | None, unfenced_network: bool, keep: bool,
                runs_dir: Path | None) -> None:
    """Run TASK with the agent on a copy of this checkout (HEAD plus uncommitted changes), then offer the diff."""
    text = " ".join(task).strip()
    if not text:
        raise click.UsageError('say what to do, e.g. codexbot run "fix the failing test"')
    checkout = _checkout()
    values = user_values(ctx, checkout, {"model": model, "sandbox": sandbox})
    settings = apply_to_settings(_settings(ctx), values)
    sandbox, model = settings.sandbox, settings.model
    if apply_change is None and values["auto_apply"].value:
        apply_change = True
    try:
        check_model_settings(settings)
    except LocalRunError as error:
        raise click.ClickException(str(error)) from None
    if (sandbox or settings.sandbox) == "subprocess":
        click.secho("WARNING: sandbox 'subprocess': the agent's commands run as you, with your files and network.",
                    err=True, fg="red", bold=True)
    record = RunRecord.create(runs_dir or default_runs_dir(checkout), Redactor())
    display = Display()
    try:
        result = LocalRun(settings, checkout, record, sandbox_kind=sandbox, model=model, keep=keep,
                          unfenced=unfenced_network, show=display).run(text)
    except LocalRunError as error:
        raise click.ClickException(str(error)) from None
    finally:
        display.close()
    if not as_json:
        _show_outcome(result)
    # a partial change (a limit or a model error ended the agent) is offered like a finished one: it is the user's work
    applied = result.status != "cancelled" and bool(result.diff) and _apply_if_wanted(
        checkout, record, apply_change, ask=not as_json and _interactive(), partial=bool(result.partial))
    if as_json:
        click.echo(json.dumps({**result.to_dict(), "applied": applied,
                               "apply_command": f"codexbot apply {result.run_id}"}, indent=2))
    ctx.exit({"succeeded": 0, "cancelled": 130}.get(result.status, 1))


def _show_outcome(result: LocalResult) -> None:
    """The diff (also a partial one), the agent's summary and the test results on stdout; why the change is
    partial, and a failure, in one sentence each on stderr."""
    if result.diff and result.status != "cancelled":
        click.echo(_colored(result.diff))
        if result.summary:
            click.echo(f"summary: {result.summary}")
        click.echo(result.tests.summary() if result.tests is not None else "no tests were run")
    if result.partial:
        click.secho(result.partial, err=True, fg="yellow")
    if result.status != "succeeded":
        click.echo(f"run {result.run_id} {result.status}: {result.error}", err=True)


def _apply_if_wanted(checkout: Path, record: RunRecord, wanted: bool | None, ask: bool, partial: bool = False) -> bool:
    """Apply with --apply or a yes at the prompt; otherwise (and without a terminal) say how to apply later."""
    if wanted is None and ask:
        what = "this partial change" if partial else "this change"
        wanted = click.confirm(f"Apply {what} to your working tree?", default=False, err=True)
    if not wanted:
        click.echo(f"not applied; to apply it later, run: codexbot apply {record.run_id}", err=True)
        return False
    try:
        message = apply_patch(checkout, record.patch_path, record.preimages_path)
    except CheckoutError as error:
        click.echo(f"not applied: {error}", err=True)
        return False
    record.update(applied=True)
    click.echo(message, err=True)
    return True


def _colored(diff: str) -> str:
    lines = []
    for line in diff.splitlines():
        color = "green" if line.startswith("+") and not line.startswith("+++") else \
            "red" if line.startswith("-") and not line.startswith("---") else None
        lines.append(click.style(line, fg=color) if color else line)
    return "\n".join(lines)


@click.command("logs")
@click.argument("run_id")
@click.option("-f", "--follow", is_flag=True, help="Keep printing while the run goes on.")
@RUNS_DIR_OPTION
@click.pass_context
def logs_command(ctx: click.Context, run_id: str, follow: bool, runs_dir: Path | None) -> None:
    """Print the log of run RUN_ID: a local run (an id, a unique prefix, or `last`), else a delegated one."""
    record = _find_local(ctx, run_id, runs_dir)
    if record is None:
        return remote_logs(ctx, run_id, follow)
    try:
        if follow:
            for chunk in follow_log(record):
                click.echo(chunk, nl=False)
        elif record.log_path.exists():
            click.echo(record.log_path.read_text(errors="replace"), nl=False)
    except RecordError as error:
        raise click.ClickException(str(error)) from None


@click.command("apply")
@click.argument("run_id")
@RUNS_DIR_OPTION
@click.pass_context
def apply_command(ctx: click.Context, run_id: str, runs_dir: Path | None) -> None:
    """Apply the change of run RUN_ID to this checkout's working tree (`git apply`, three-way on conflict).

    A local run is found under .codexbot/runs; any other id is asked of the codexbot server."""
    checkout = _checkout()
    record = _find_local(ctx, run_id, runs_dir or default_runs_dir(checkout))
    if record is None:
        return remote_apply(ctx, run_id)
    try:
        message = apply_patch(checkout, record.patch_path, record.preimages_path)
    except CheckoutError as error:
        raise click.ClickException(str(error)) from None
    record.update(applied=True)
    click.echo(f"{message} (run {record.run_id})")


def _find_local(ctx: click.Context, run_id: str, runs_dir: Path | None) -> RunRecord | None:
    """The local run, or None when there is none and a server is configured to ask instead."""
    try:
        return find_run(runs_dir or default_runs_dir(find_checkout(Path.cwd())), run_id)
    except (RecordError, CheckoutError) as error:
        if run_id != "last" and user_values(ctx, None)["server_url"].value:
            return None
        raise click.ClickException(str(error)) from None


def _checkout() -> Path:
    try:
        return find_checkout(Path.cwd())
    except CheckoutError as error:
        raise click.ClickException(str(error)) from None


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _settings(ctx: click.Context):
    config_path = (ctx.find_root().obj or {}).get("config_path")
    try:
        return load_settings(config_path=config_path)
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


COMMANDS = (run_command, logs_command, apply_command)


def register(group: click.Group) -> None:
    """Add the local commands to the `codexbot` group; a name another command already has is an error, not a swap."""
    for command in COMMANDS:
        taken = group.commands.get(command.name)
        if taken is not None and taken is not command:
            raise RuntimeError(f"codexbot already has a `{command.name}` command; rename one of them")
        group.add_command(command)


if __name__ == "__main__":  # `python -m cli.local` until bot/cli.py registers these commands
    from cli.main import main

    register(main)
    main(prog_name="codexbot")
