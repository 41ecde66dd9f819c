"""`codexbot up`: Redis, the web server and N workers on one machine, supervised until Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace
from urllib.parse import urlparse

import click

from jobs.host.self_check import run_checks
from jobs.host.redis_server import RedisPlan, plan_redis, wait_ready
from jobs.settings import Settings, SettingsError, load_settings, require_web_settings
from jobs.host.supervisor import ChildSpec, Supervisor

READY_SECONDS = 60  # the web server builds the app and binds; on a loaded machine this takes a while


@click.command("up")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 32),
              help="`codexbot worker` processes.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the web server listens on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port of the web server.")
@click.option("--stop-timeout", default=30, show_default=True, type=click.IntRange(1, 3600),
              help="Seconds a worker may take to finish its current job on Ctrl-C before it is told to drop it.")
@click.pass_context
def up_command(ctx: click.Context, workers: int, host: str, port: int, stop_timeout: int) -> None:
    """Run everything on this machine: Redis (unless CODEXBOT_REDIS_URL points at one), the web server
    and N workers. A crashed worker is restarted; Ctrl-C stops all of it."""
    config_path = (ctx.obj or {}).get("config_path")
    settings, plan = _prepare(config_path, host, port)
    public_url = _public_url(settings, host, port)
    env = dict(os.environ, CODEXBOT_REDIS_URL=plan.url, CODEXBOT_PUBLIC_URL=public_url)
    stop, hurry = threading.Event(), threading.Event()
    _install_signal_handlers(stop, hurry)
    supervisor = Supervisor(grace=stop_timeout, subreaper=True)
    reason = None
    try:
        reason = _start_all(supervisor, plan, _codexbot(config_path), env, host, port, workers, stop)
        if reason is None and not stop.is_set():
            effective = replace(settings, redis_url=plan.url, public_url=public_url)
            _print_banner(supervisor, effective, plan, _local_url(host, port), workers)
            reason = supervisor.watch(stop)
    finally:
        supervisor.say(reason or "stopping everything (Ctrl-C again to stop at once)")
        clean = supervisor.stop(hurry)
    supervisor.say("stopped cleanly" if clean and not reason else "stopped; not everything stopped cleanly: see above")
    ctx.exit(0 if clean and not reason else 1)


def _prepare(config_path: str | None, host: str, port: int) -> tuple[Settings, RedisPlan]:
    """The settings, and where Redis will be; anything that cannot work is one sentence before anything starts."""
    try:
        settings = load_settings(config_path=config_path)
        require_web_settings(settings)
        if not _port_is_free(host, port):
            raise SettingsError(f"port {port} on {host} is in use: stop what listens there or pass --port")
        return settings, plan_redis(settings)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _start_all(supervisor: Supervisor, plan: RedisPlan, codexbot: list[str], env: dict[str, str],
               host: str, port: int, workers: int, stop: threading.Event) -> str | None:
    """Redis first (and wait until it answers), then the web server and the workers; None when all are up."""
    if plan.argv is not None:
        redis_child = supervisor.start(ChildSpec("redis", plan.argv, env, stop_last=True))
        try:
            wait_ready(plan.url, redis_child.proc)
        except SettingsError as exc:
            return str(exc)
    web = supervisor.start(ChildSpec("web", codexbot + ["serve", "--host", host, "--port", str(port)], env))
    for number in range(1, workers + 1):
        supervisor.start(ChildSpec(f"worker-{number}", codexbot + ["worker"], env, restart=True))
    return _wait_for_web(web, _local_url(host, port) + "/healthz", stop)


def _wait_for_web(web, url: str, stop: threading.Event) -> str | None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline and not stop.is_set():
        if not web.running:
            return "the web server stopped while starting: see its output above"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return None
        except (urllib.error.URLError, OSError):
            pass  # not listening yet
        stop.wait(0.2)
    return None if stop.is_set() else f"the web server did not answer {url} within {READY_SECONDS} s"


def _print_banner(supervisor: Supervisor, settings: Settings, plan: RedisPlan, web_url: str, workers: int) -> None:
    """Where to point the forges, and what `codexbot check --offline` still finds missing, a line each."""
    where = f"started here, data and append-only file in {settings.data_dir}/redis" if plan.argv else "not started here"
    say = supervisor.say
    say(f"codexbot is up: web on {web_url}, {workers} worker(s), Redis at {_safe_url(plan.url)} ({where})")
    say(f"GitHub webhook URL: {settings.public_url.rstrip('/')}/webhooks/github")
    say(f"GitLab webhook URL: {settings.public_url.rstrip('/')}/webhooks/gitlab")
    say(f"run pages: {settings.public_url.rstrip('/')}/runs/<run id> (signed links are posted on the issues)")
    problems = [item for item in run_checks(settings, offline=True) if not item.ok]
    for item in problems:
        say(f"{'missing' if item.required else 'warning'}: {item.name}: {item.message}")
    if not problems:
        say("configuration: nothing missing (`codexbot check` also tries the model)")
    say("ready; Ctrl-C stops everything")


def _install_signal_handlers(stop: threading.Event, hurry: threading.Event) -> None:
    def on_signal(signum, frame) -> None:
        if stop.is_set():
            hurry.set()  # a second Ctrl-C: no more grace
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)


def _codexbot(config_path: str | None) -> list[str]:
    """The children run this same interpreter and installation, with the same config file."""
    return [sys.executable, "-m", "cli"] + (["--config", config_path] if config_path else [])


def _public_url(settings: Settings, host: str, port: int) -> str:
    if settings.public_url != Settings.public_url:
        return settings.public_url
    return _local_url(host, port)


def _local_url(host: str, port: int) -> str:
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _safe_url(url: str) -> str:
    """A Redis URL without its password, for the terminal."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    return parsed._replace(netloc=parsed.netloc.rsplit("@", 1)[1]).geturl()


def _port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the web server binds: TIME_WAIT is no conflict
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
