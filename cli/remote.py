"""`codexbot delegate`, `runs`, `status` and `cancel`, and the server side of `logs` and `apply`: a task sent to
a codexbot server from where the user is (HEAD plus uncommitted changes), and finished locally."""

from __future__ import annotations

import re
import tempfile
import time
import uuid
from pathlib import Path

import click

from cli.api_client import ApiClient, ApiError
from jobs.git import workspace
from jobs.local.checkout import (CheckoutError, apply_or_refuse, find_checkout, head_commit, working_tree_diff,
                                 write_preimages)
from jobs.local.user_config import UserConfigError, effective

FOLLOW_WAIT = 20  # seconds each log request waits for new lines on the server
_REMOTE = re.compile(r"^(?:[a-z+]+://(?:[^@/]+@)?[^/]+(?::\d+)?/|[^@:/]+@[^:]+:|[^@:/]+:)(?P<path>.+?)(?:\.git)?/?$")


def user_values(ctx: click.Context, checkout: Path | None = None, flags: dict | None = None):
    try:
        return effective(profile=(ctx.find_root().obj or {}).get("profile"), checkout=checkout, flags=flags)
    except UserConfigError as exc:
        raise click.ClickException(str(exc)) from None


def client(ctx: click.Context) -> ApiClient:
    values = user_values(ctx, _checkout_or_none())
    try:
        return ApiClient(values["server_url"].value, values["api_token"].value)
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None


def call(api: ApiClient, method: str, path: str, **options) -> dict:
    try:
        return api.call(method, path, **options)
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None


def repository_of(remote_url: str) -> str:
    """owner/name (or group/project) from a remote URL: https://host/o/n.git, git@host:o/n.git, ssh://…"""
    match = _REMOTE.match(remote_url.strip())
    if not match or "/" not in match["path"]:
        raise click.ClickException(f"cannot tell the repository from the remote {remote_url!r}: pass --repo owner/name")
    return match["path"].strip("/")


def _checkout_or_none() -> Path | None:
    try:
        return find_checkout(Path.cwd())
    except CheckoutError:
        return None


def _git_out(checkout: Path, *args: str) -> str:
    return workspace.git(checkout, *args, check=False).stdout.strip()


@click.command("delegate")
@click.argument("task", nargs=-1, required=True)
@click.option("--repo", default=None, help="owner/name on the forge (default: from the remote's URL).")
@click.option("--forge", type=click.Choice(["github", "gitlab"]), default="github", show_default=True)
@click.option("--remote", default="origin", show_default=True, help="The git remote the server knows.")
@click.option("--model", default=None, help="The model for this run (default: the server's).")
@click.option("--pr", "pull_request", is_flag=True,
              help="Also open a pull request with your uncommitted changes and the agent's change.")
@click.pass_context
def delegate_command(ctx, task, repo, forge, remote, model, pull_request) -> None:
    """Send TASK to the codexbot server, starting from HEAD plus your uncommitted changes; returns at once."""
    text = " ".join(task).strip()
    try:
        checkout = find_checkout(Path.cwd())
        head = head_commit(checkout)
        diff = working_tree_diff(checkout)
    except CheckoutError as exc:
        raise click.ClickException(str(exc)) from None
    remote_url = _git_out(checkout, "remote", "get-url", remote)
    if not repo and not remote_url:
        raise click.ClickException(f"this checkout has no remote {remote!r}: pass --remote NAME or --repo owner/name")
    if not _git_out(checkout, "branch", "-r", "--contains", head):
        click.echo(f"warning: {head[:12]} is on no remote branch you have fetched; the server needs it pushed",
                   err=True)
    values = user_values(ctx, checkout, {"model": model})
    body = {"task": text, "forge": forge, "repository": repo or repository_of(remote_url), "remote_url": remote_url,
            "base_commit": head, "diff": diff, "request_id": uuid.uuid4().hex, "pull_request": pull_request}
    if values["model"].source != "default":
        body["model"] = values["model"].value
    run = call(client(ctx), "POST", "/api/runs", body=body)
    click.echo(run["id"])
    note = " (this request was already sent; same run)" if run.get("duplicate") else ""
    click.echo(f"delegated to {run['repository']}@{head[:12]}{' with your uncommitted changes' if diff else ''}"
               f"{note}: {run['url']}\nfollow it with `codexbot logs {run['id']} -f`, then `codexbot apply {run['id']}`",
               err=True)


@click.command("runs")
@click.pass_context
def runs_command(ctx) -> None:
    """Your delegated runs on the server, newest first."""
    for run in call(client(ctx), "GET", "/api/runs")["runs"]:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(run["created_at"]))
        click.echo(f"{run['id']}  {run['status']:<9}  {when}  {run['repository']}  {run['task'][:60]}")


@click.command("status")
@click.argument("run_id")
@click.pass_context
def status_command(ctx, run_id: str) -> None:
    """The state of delegated run RUN_ID: status, result, tests, link."""
    run = call(client(ctx), "GET", f"/api/runs/{run_id}")
    click.echo(f"run {run['id']} on {run['repository']}: {run['status']}")
    for label, value in (("task", run["task"]), ("summary", run.get("summary")), ("error", run.get("error")),
                         ("tests", _tests_line(run.get("tests"))), ("pull request", run.get("pr_url")),
                         ("link", run["url"])):
        if value:
            click.echo(f"{label}: {value}")


def _tests_line(tests: dict | None) -> str:
    return f"{tests.get('passed', 0)} passed, {tests.get('failed', 0)} failed" if tests else ""


@click.command("cancel")
@click.argument("run_id")
@click.pass_context
def cancel_command(ctx, run_id: str) -> None:
    """Stop delegated run RUN_ID (a queued run never starts; a running one stops within a step)."""
    call(client(ctx), "POST", f"/api/runs/{run_id}/cancel")
    click.echo(f"asked run {run_id} to stop")


def remote_logs(ctx: click.Context, run_id: str, follow: bool, limit_seconds: float = 6 * 3600) -> None:
    """Print a delegated run's log; with follow, long-poll until the run ends (or limit_seconds pass)."""
    api, start, deadline = client(ctx), 0, time.monotonic() + limit_seconds
    while True:
        wait = FOLLOW_WAIT if follow else 0
        page = call(api, "GET", f"/api/runs/{run_id}/log", params={"from": start, "wait": wait}, timeout=wait + 30)
        for line in page["lines"]:
            click.echo(line)
        start = page["next"]
        if not follow or (page["final"] and not page["lines"]) or time.monotonic() > deadline:
            if follow:
                click.echo(f"run {run_id} {page['status']}", err=True)
            return
        if api.retry_after and not page["lines"]:  # the server could not hold the wait: as it asks, not at once
            time.sleep(api.retry_after)


def remote_apply(ctx: click.Context, run_id: str) -> None:
    """Fetch a delegated run's change and apply it here; on a conflict nothing is changed."""
    import base64

    try:
        checkout = find_checkout(Path.cwd())
    except CheckoutError as exc:
        raise click.ClickException(str(exc)) from None
    result = call(client(ctx), "GET", f"/api/runs/{run_id}/diff")
    with tempfile.TemporaryDirectory(prefix="codexbot-preimages-") as scratch:
        try:
            write_preimages({p: base64.b64decode(c) for p, c in result["preimages"].items()}, Path(scratch))
            message = apply_or_refuse(checkout, result["diff"], Path(scratch))
        except CheckoutError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{message} (run {run_id})")


COMMANDS = {"delegate": delegate_command, "runs": runs_command, "status": status_command, "cancel": cancel_command}
