"""`codexbot check`: verify the configuration and every connection, one line per item with what to fix."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import redis
import requests

from jobs.access.hook_secrets import HookSecrets
from jobs.agent.probe import ModelError, NoToolCalls, probe_tools
from jobs.forges.base import ForgeError
from jobs.forges.github_app import GitHubApp, load_private_key
from jobs.forges.gitlab_tokens import TokenStore
from jobs.records.schema import SCHEMA_VERSION, SchemaError, stored_version
from jobs.run.wiring import build_model, make_sandbox
from jobs.sandbox import SandboxError
from jobs.settings import Settings, SettingsError

TIMEOUT = 10
PROBE_SECONDS = 120  # the tool-calling request; a small CPU model may take a while to load
PROBE_MAX_TOKENS = 2048  # enough for a reasoning model to reason before the call


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str
    required: bool = True


class CheckFailed(Exception):
    """One item is wrong; the message is the fix."""


def run_checks(settings: Settings, offline: bool = False) -> list[Check]:
    items: list[tuple[str, Callable[[Settings], str], bool]] = [
        ("settings", check_settings_present, True),
        ("redis", check_redis, True),
        ("redis password", check_redis_password, False),
        ("data dir", check_data_dir, True),
        ("sandbox", check_sandbox, settings.sandbox == "bwrap"),
    ]
    if settings.github_webhook_secret or settings.github_app_id:
        items.append(("github app", check_github_app, True))
    if settings.gitlab_webhook_secret:
        items.append(("gitlab", check_gitlab, True))
    if not offline:
        items.append(("model", check_model, True))
    return [_run(name, func, settings, required) for name, func, required in items]


def _run(name: str, func: Callable[[Settings], str], settings: Settings, required: bool) -> Check:
    try:
        return Check(name, True, func(settings), required)
    except CheckFailed as exc:
        return Check(name, False, str(exc), required)


def check_settings_present(s: Settings) -> str:
    missing = []
    if not s.github_webhook_secret and not s.gitlab_webhook_secret:
        missing.append("CODEXBOT_GITHUB_WEBHOOK_SECRET (or CODEXBOT_GITLAB_WEBHOOK_SECRET)")
    if not s.secret_key:
        missing.append("CODEXBOT_SECRET_KEY (a long random string; it signs run links and encrypts stored tokens)")
    if missing:
        raise CheckFailed("set " + " and ".join(missing))
    if s.public_url.startswith("http://127.0.0.1"):
        return f"webhook secret and secret key set; CODEXBOT_PUBLIC_URL is {s.public_url}, which only this machine can open"
    return f"webhook secret and secret key set; links point at {s.public_url}"


def check_redis(s: Settings) -> str:
    conn = redis.Redis.from_url(s.redis_url, socket_timeout=3, socket_connect_timeout=3)
    try:
        conn.ping()
        policy = conn.config_get("maxmemory-policy").get("maxmemory-policy", "?")
    except redis.ResponseError:
        policy = "unknown (CONFIG is not allowed)"
    except redis.RedisError as exc:
        raise CheckFailed(f"Redis at CODEXBOT_REDIS_URL does not answer ({type(exc).__name__}): start it or fix the URL") from None
    schema = _schema_note(conn)
    if policy not in ("noeviction", "unknown (CONFIG is not allowed)"):
        return f"answering{schema}; maxmemory-policy is {policy}: set noeviction, or queued jobs may be evicted"
    return f"answering{schema}"


def check_redis_password(s: Settings) -> str:
    """Setup commands run with the worker's network: an open Redis on it would hand them the queue."""
    parsed = urlparse(s.redis_url)
    if parsed.scheme == "unix":
        return "a unix socket: reachable only by its file permissions"
    if parsed.password:
        return "the URL carries a password"
    try:
        open_to_all = bool(redis.Redis.from_url(s.redis_url, socket_timeout=3, socket_connect_timeout=3).ping())
    except redis.AuthenticationError:
        return "Redis asks for a password (set it in CODEXBOT_REDIS_URL as redis://:PASSWORD@host:port/0)"
    except redis.RedisError:
        return "not checked: Redis does not answer"
    if open_to_all:
        raise CheckFailed("Redis answers without a password, and setup commands run in the sandbox with the worker's "
                          "network, so they could reach it: set requirepass and use redis://:PASSWORD@host:port/0")
    return "checked"


def _schema_note(conn: redis.Redis) -> str:
    try:
        version = stored_version(conn)
    except (SchemaError, redis.RedisError) as exc:
        raise CheckFailed(str(exc)) from None
    if version > SCHEMA_VERSION:
        raise CheckFailed(f"the data is schema version {version}, written by a newer codexbot; this release "
                          f"reads up to {SCHEMA_VERSION}: upgrade it, or point CODEXBOT_REDIS_URL at another Redis")
    if version < SCHEMA_VERSION:
        return f"; the data is schema version {version}: run `codexbot migrate` to bring it to {SCHEMA_VERSION}"
    return ""


def check_data_dir(s: Settings) -> str:
    path = Path(s.data_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise CheckFailed(f"CODEXBOT_DATA_DIR {path} is not writable ({exc.strerror}): create it for the worker's user") from None
    return f"{path} is writable"


def check_sandbox(s: Settings) -> str:
    """A command with the network on, so that the fence (its proxy and socat) is tried too."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            sandbox = make_sandbox(s.sandbox, Path(tmp))
            try:
                result = sandbox.run("echo sandbox-ok", timeout=30, network=True)
            finally:
                sandbox.close()
        except SandboxError as exc:
            raise CheckFailed(f"{exc} (see the README: what the sandbox needs)") from None
    if result.exit_code != 0 or "sandbox-ok" not in result.output:
        raise CheckFailed(f"the {s.sandbox} sandbox could not run a command: {result.output.strip()[:200]}")
    return f"{s.sandbox} runs commands" + (", the network fence included" if s.sandbox == "bwrap" else "")


def check_github_app(s: Settings) -> str:
    if not s.github_app_id or not s.github_private_key_path:
        raise CheckFailed("set CODEXBOT_GITHUB_APP_ID and CODEXBOT_GITHUB_PRIVATE_KEY_PATH (from the App's settings page)")
    try:
        app = GitHubApp(s.github_api_url, s.github_app_id, load_private_key(s.github_private_key_path))
        resp = requests.get(f"{s.github_api_url.rstrip('/')}/app", timeout=TIMEOUT,
                            headers={"Authorization": f"Bearer {app.app_jwt()}", "Accept": "application/vnd.github+json"})
    except (ForgeError, ValueError, OSError) as exc:
        raise CheckFailed(str(exc)) from None
    except requests.RequestException as exc:
        raise CheckFailed(f"{s.github_api_url} cannot be reached ({type(exc).__name__}): check CODEXBOT_GITHUB_API_URL") from None
    if resp.status_code == 401:
        raise CheckFailed("GitHub refused the App's JWT: CODEXBOT_GITHUB_APP_ID and the private key must belong to the same App")
    if resp.status_code != 200:
        raise CheckFailed(f"GET /app answered {resp.status_code}: check CODEXBOT_GITHUB_API_URL")
    return f"App {resp.json().get('slug', s.github_app_id)} authenticates at {s.github_api_url}"


def check_gitlab(s: Settings) -> str:
    """Each stored token must be accepted and carry the api and write_repository scopes."""
    try:
        store = TokenStore(redis.Redis.from_url(s.redis_url, socket_timeout=3), s.secret_key)
        paths = store.paths()
    except (SettingsError, redis.RedisError) as exc:
        raise CheckFailed(f"the stored GitLab tokens cannot be read: {exc}") from None
    if not paths:
        raise CheckFailed("no GitLab token is stored: run `codexbot gitlab add-token GROUP_OR_PROJECT`")
    problems = [problem for path in paths if (problem := _gitlab_token_problem(s.gitlab_url, path, store.lookup(path)))]
    hooks = HookSecrets(store.redis, s.secret_key)
    hook_paths = hooks.paths()
    for path in hook_paths:  # a secret that no longer opens refuses every delivery of its projects
        try:
            hooks.secrets_for(path)
        except SettingsError as exc:
            problems.append(str(exc))
    if problems:
        raise CheckFailed("; ".join(problems))
    own = f"; {len(hook_paths)} project or group webhook secret(s) open" if hook_paths else ""
    return f"{len(paths)} stored token(s) accepted by {s.gitlab_url} with the api and write_repository scopes{own}"


def _gitlab_token_problem(url: str, path: str, token: str | None) -> str | None:
    try:
        resp = requests.get(f"{url.rstrip('/')}/api/v4/personal_access_tokens/self", timeout=TIMEOUT,
                            headers={"PRIVATE-TOKEN": token or ""})
    except requests.RequestException as exc:
        return f"{url} cannot be reached ({type(exc).__name__}): check CODEXBOT_GITLAB_URL"
    if resp.status_code == 401:
        return f"GitLab rejected the token for {path}: it was revoked or expired; add a new one"
    if resp.status_code != 200:
        return f"{url} answered {resp.status_code} for the token of {path}: check CODEXBOT_GITLAB_URL"
    missing = {"api", "write_repository"} - set(resp.json().get("scopes", []))
    if missing:
        return f"the token for {path} lacks the {' and '.join(sorted(missing))} scope(s): create one with them"
    return None


def check_model(s: Settings) -> str:
    """The key and model name, then one tiny tool-calling request with the configured API."""
    base = (s.openai_base_url or "https://api.openai.com/v1").rstrip("/")
    if not s.openai_api_key:
        raise CheckFailed("set OPENAI_API_KEY (or OPENAI_BASE_URL and any key for a local model server)")
    listed = _model_listed(s, base)
    probe = replace(s, model_max_tokens=PROBE_MAX_TOKENS, model_retries=0,
                    reasoning_effort="low" if s.reasoning_effort else "")
    try:
        verdict = probe_tools(build_model(probe, s.model, s.openai_api_key, lambda line: None), PROBE_SECONDS)
    except (ModelError, NoToolCalls) as exc:
        raise CheckFailed(str(exc)) from None
    unlisted = "" if listed else " (not in its list of models, but it answered)"
    return f"{base} serves {s.model}{unlisted}; {verdict}"


def _model_listed(s: Settings, base: str) -> bool:
    """Whether the server lists the model; a wrong key or address fails here, before the probe."""
    headers = {"Authorization": f"Bearer {s.openai_api_key}"}
    try:
        resp = requests.get(f"{base}/models/{s.model}", timeout=TIMEOUT, headers=headers)
        if resp.status_code == 404:  # some compatible servers only list their models
            listed = requests.get(f"{base}/models", timeout=TIMEOUT, headers=headers)
            ids = {m.get("id") for m in listed.json().get("data", []) if isinstance(m, dict)} if listed.ok else set()
            resp = listed if s.model in ids else resp
    except (requests.RequestException, ValueError) as exc:
        raise CheckFailed(f"the model API at {base} cannot be reached ({type(exc).__name__}): check OPENAI_BASE_URL") from None
    if resp.status_code == 401:
        raise CheckFailed("the model API rejected the key: check OPENAI_API_KEY")
    return resp.status_code == 200
