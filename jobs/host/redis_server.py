"""The Redis that `codexbot up` starts: the system redis-server, its data and append-only file in the data dir."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import redis

from jobs.settings import Settings, SettingsError

DEFAULT_PORT = 6379


@dataclass(frozen=True)
class RedisPlan:
    """Where the queue's Redis is, and the redis-server command line when `up` starts it (None: use it as is)."""

    url: str
    argv: list[str] | None


def plan_redis(settings: Settings) -> RedisPlan:
    """Start our own unless CODEXBOT_REDIS_URL was set to a Redis that answers (or to one that is not local)."""
    configured = settings.redis_url
    explicit = configured != Settings.redis_url
    if explicit and answers(configured):
        return RedisPlan(configured, None)
    parsed = urlparse(configured)
    data = Path(settings.data_dir) / "redis"
    if explicit and parsed.scheme == "unix":
        return RedisPlan(configured, redis_argv(data, port=0, unix_socket=parsed.path))
    if explicit and parsed.hostname not in ("127.0.0.1", "localhost"):
        raise SettingsError(f"Redis at CODEXBOT_REDIS_URL ({parsed.hostname}) does not answer: start it, or unset "
                            "CODEXBOT_REDIS_URL to let `codexbot up` start one")
    port = parsed.port or DEFAULT_PORT
    if not explicit and not port_is_free(port):
        port = free_port()  # the default port is someone else's Redis: ours keeps its own data
    elif not port_is_free(port):
        raise SettingsError(f"port {port} of CODEXBOT_REDIS_URL is taken by something else, which does not answer "
                            "as Redis: choose another port")
    db = parsed.path.lstrip("/") or "0"
    argv = redis_argv(data, port=port)  # makes the data dir, private, before the password goes in it
    password = redis_password(data)
    return RedisPlan(f"redis://:{password}@127.0.0.1:{port}/{db}", with_password(argv, data, password))


def redis_password(data: Path) -> str:
    """The Redis password `up` keeps in its data dir (made once, mode 600).

    Setup commands run in the sandbox with the host's network, so they could reach a Redis on 127.0.0.1;
    a password they cannot read keeps them from the queue (a job in it names the code a worker runs)."""
    path = data / "password"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()


def with_password(argv: list[str], data: Path, password: str) -> list[str]:
    """The password goes in a config file of mode 600 (redis-server's first argument), not on a command line."""
    conf = data / "redis.conf"
    conf.touch(mode=0o600)
    conf.chmod(0o600)
    conf.write_text(f"requirepass {password}\n")
    return [argv[0], str(conf), *argv[1:]]


def redis_argv(data: Path, port: int, unix_socket: str = "") -> list[str]:
    """Durable and private: append-only file fsynced every second, no eviction, no RDB snapshots, local only."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SettingsError("redis-server is not installed: install it (apt-get install redis-server), "
                            "or set CODEXBOT_REDIS_URL to a running Redis")
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o700)
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--protected-mode", "yes",
            "--dir", str(data), "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
            "--maxmemory-policy", "noeviction", "--daemonize", "no", "--logfile", "",
            "--enable-protected-configs", "no", "--enable-debug-command", "no"]
    if unix_socket:
        argv += ["--unixsocket", unix_socket, "--unixsocketperm", "700"]
    return argv


def answers(url: str, timeout: float = 1.0) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout).ping())
    except (redis.RedisError, OSError):
        return False


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """Until Redis answers; a redis-server that exits or stays silent is one sentence."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SettingsError(f"redis-server exited with code {proc.returncode}: see its output above")
        if answers(url, timeout=0.5):
            return
        time.sleep(0.1)
    raise SettingsError(f"redis-server did not answer at {url} within {timeout:.0f} s: see its output above")


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
