"""Server settings: read once from the environment (and an optional codexbot.toml), then passed down."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Mapping
from urllib.parse import urlparse

import redis

from jobs.agent.prices import PriceError, parse_prices  # pure data: imports no model client
from jobs.sandbox.allowlist import AllowlistError, operator_domains, upstreams_for_tests  # pure data too

MAX_WEBHOOK_BYTES = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
PERMISSION_LEVELS = ("read", "triage", "write", "maintain", "admin")  # lowest to highest


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names the variable and the fix."""


@dataclass(frozen=True)
class Settings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    data_dir: str = "/var/lib/codexbot"
    public_url: str = "http://127.0.0.1:8000"
    secret_key: str = ""
    command: str = "/codex"
    label: str = "codex"
    github_webhook_secret: tuple[str, ...] = field(default=(), repr=False)
    github_app_id: str = ""
    github_private_key_path: str = ""
    github_api_url: str = "https://api.github.com"
    github_bot_login: str = ""
    github_client_id: str = ""
    github_client_secret: str = field(default="", repr=False)
    gitlab_url: str = "https://gitlab.com"
    gitlab_webhook_secret: tuple[str, ...] = ()
    gitlab_bot_username: str = ""
    openai_api_key: str = field(default="", repr=False)
    openai_base_url: str = ""
    model: str = "gpt-5-codex"
    model_api: str = ""  # "responses" or "chat"; empty: responses for api.openai.com, chat for other base URLs
    reasoning_effort: str = ""  # none, minimal, low, medium, high or xhigh; empty: the model's default
    model_timeout: int = 300  # seconds one model call may take
    model_retries: int = 4  # further tries after a 429, 5xx, timeout or dropped connection
    forge_backoff: float = 0.5  # seconds before the second forge API retry, doubling after (the first is at once)
    model_prices: str = ""  # "model=input/output,..." dollars per million tokens, over the built-in table
    context_tokens: int = 64_000  # older tool output is shortened above this (0: never)
    max_tokens: int = 0  # tokens one run may use (0: no limit)
    max_cost: float = 0.0  # dollars one run may spend, by the price table (0: no limit)
    agent_seconds: int = 1800  # wall time of the agent loop
    model_max_tokens: int = 0  # tokens one answer may have (0: 8192 on Chat Completions, 25000 on Responses)
    sandbox: str = "bwrap"
    min_permission: str = "write"
    metrics_token: str = field(default="", repr=False)
    queue: str = "codexbot"
    job_timeout: int = 3600
    web_workers: int = 0  # 0: chosen from the number of cores
    web_threads: int = 16  # threads per web worker: a run page's live log holds one while it is open
    web_streams: int = 4  # of those, how many live logs and API long-polls may hold (at most half the threads)
    mirror_max_bytes: int = 20_000_000_000  # the mirror cache; least recently used mirrors go first
    keep_failed_seconds: int = 86_400  # a failed run's workspace is kept this long for debugging; 0: not kept
    max_diff_bytes: int = 5_000_000  # a bigger change is refused before it is pushed; 0: no limit
    api_rate_per_minute: int = 60  # requests one API token may make per minute (/api/...)
    repo_concurrency: int = 3  # runs of one repository queued or running at once; the rest wait their turn (0: no limit)
    rate_limit_repo: int = 60  # runs one repository may start per hour (0: no limit)
    rate_limit_user: int = 20  # runs one requester may start per hour, over all repositories (0: no limit)
    retention_days: int = 90  # runs, logs and archives older than this are removed (0: kept forever)
    gitlab_client_id: str = ""  # the GitLab OAuth application that signs viewers in to the run pages
    gitlab_client_secret: str = field(default="", repr=False)
    env_cache_bytes: int = 10_000_000_000  # warm environments kept in CODEXBOT_DATA_DIR/environments (0: none)
    disk_mb: int = 4096  # what one run's workspace may take on disk, measured after each command
    network_allow: str = ""  # what fenced phases may reach: empty for the preset, "+a.org,…" to extend, "a.org,…" to replace
    network_strict: bool = False  # true: a repository's [network] allow is ignored
    network_test_upstreams: str = ""  # TESTS ONLY: "name=127.0.0.1:port,…" lets the fence reach local test servers
    admins: tuple[str, ...] = ()  # logins ("alice" or "gitlab:alice") who may open the queue dashboard at /rq

    def __post_init__(self) -> None:
        if not self.command.startswith("/"):
            object.__setattr__(self, "command", "/" + self.command)  # "codex" means "/codex"
        check_settings(self)


_TUPLE_FIELDS = {"github_webhook_secret", "gitlab_webhook_secret", "admins"}
_INT_FIELDS = {"disk_mb", "env_cache_bytes", "api_rate_per_minute", "job_timeout", "web_workers", "mirror_max_bytes", "keep_failed_seconds", "max_diff_bytes", "model_timeout", "model_retries", "context_tokens", "max_tokens", "model_max_tokens",
               "agent_seconds", "repo_concurrency", "web_threads", "web_streams", "rate_limit_repo", "rate_limit_user", "retention_days"}
_FLOAT_FIELDS = {"max_cost", "forge_backoff"}
_BOOL_FIELDS = {"network_strict"}
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
REASONING_EFFORTS = ("", "none", "minimal", "low", "medium", "high", "xhigh")


def env_name(field_name: str) -> str:
    """The environment variable that sets a field (OPENAI_* keep their usual names)."""
    if field_name.startswith("openai_"):
        return field_name.upper()
    return "CODEXBOT_" + field_name.upper()


def load_settings(environ: Mapping[str, str] | None = None, config_path: str | None = None) -> Settings:
    """Settings from a codexbot.toml (if any) overlaid by the environment."""
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    path = config_path or environ.get("CODEXBOT_CONFIG")
    if path or Path("codexbot.toml").is_file():
        values.update(_read_config_file(Path(path or "codexbot.toml")))
    for f in fields(Settings):
        raw = environ.get(env_name(f.name))
        if raw is not None and raw != "":
            values[f.name] = raw
    return Settings(**{name: _convert(name, value) for name, value in values.items()})


def _read_config_file(path: Path) -> dict[str, object]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"the config file {path} does not exist: fix CODEXBOT_CONFIG or create it") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"the config file {path} is not valid TOML: {exc}") from None
    known = {f.name: f.name for f in fields(Settings)}
    known.update({env_name(f.name).lower(): f.name for f in fields(Settings)})
    values = {}
    for key, value in data.items():
        if key not in known:
            raise SettingsError(f"{path} has an unknown setting {key!r}; the names are those of the environment variables in lower case")
        values[known[key]] = value
    return values


def _convert(name: str, value: object) -> object:
    if name in _TUPLE_FIELDS:
        items = value if isinstance(value, list) else str(value).split(",")
        return tuple(str(item).strip() for item in items if str(item).strip())
    if name in _BOOL_FIELDS:
        if isinstance(value, bool) or str(value).lower() in _TRUE + _FALSE:
            return value if isinstance(value, bool) else str(value).lower() in _TRUE
        raise SettingsError(f"{env_name(name)} must be true or false, not {value!r}")
    if name in _FLOAT_FIELDS:
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise SettingsError(f"{env_name(name)} must be a number, not {value!r}") from None
    if name in _INT_FIELDS:
        try:
            return int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise SettingsError(f"{env_name(name)} must be a whole number, not {value!r}") from None
    return str(value)


_WORD = re.compile(r"^/[A-Za-z][A-Za-z0-9_-]{0,31}$")
_LABEL = re.compile(r"^[^\s,][^,\n]{0,49}$")


def check_settings(s: Settings) -> None:
    """Refuse settings that cannot work, naming the variable."""
    if not _WORD.match(s.command):
        raise SettingsError(f"CODEXBOT_COMMAND must be one word such as /codex, not {s.command!r}")
    if not _LABEL.match(s.label):
        raise SettingsError(f"CODEXBOT_LABEL must be a label name without commas or newlines, not {s.label!r}")
    for name in ("redis_url",):
        if urlparse(getattr(s, name)).scheme not in ("redis", "rediss", "unix"):
            raise SettingsError(f"{env_name(name)} must be a redis://, rediss:// or unix:// URL")
    for name in ("public_url", "github_api_url", "gitlab_url"):
        if urlparse(getattr(s, name)).scheme not in ("http", "https"):
            raise SettingsError(f"{env_name(name)} must be an http:// or https:// URL, not {getattr(s, name)!r}")
    if s.model_api not in ("", "responses", "chat"):
        raise SettingsError(f"CODEXBOT_MODEL_API must be 'responses' or 'chat' (or empty to choose by "
                            f"OPENAI_BASE_URL), not {s.model_api!r}")
    if s.reasoning_effort not in REASONING_EFFORTS:
        raise SettingsError(f"CODEXBOT_REASONING_EFFORT must be one of {', '.join(REASONING_EFFORTS[1:])}, "
                            f"not {s.reasoning_effort!r}")
    if s.model_timeout < 1 or s.model_retries < 0 or s.context_tokens < 0 or s.max_tokens < 0 or s.max_cost < 0:
        raise SettingsError("CODEXBOT_MODEL_TIMEOUT must be at least 1 second, and CODEXBOT_MODEL_RETRIES, "
                            "CODEXBOT_CONTEXT_TOKENS, CODEXBOT_MAX_TOKENS and CODEXBOT_MAX_COST cannot be negative")
    if s.model_max_tokens and not 256 <= s.model_max_tokens <= 1_000_000:
        raise SettingsError(f"CODEXBOT_MODEL_MAX_TOKENS must be 0 (automatic) or between 256 and 1000000, "
                            f"not {s.model_max_tokens}")
    if s.disk_mb < 16:
        raise SettingsError(f"CODEXBOT_DISK_MB must be at least 16 (megabytes), not {s.disk_mb}")
    if s.agent_seconds < 60:
        raise SettingsError("CODEXBOT_AGENT_SECONDS must be at least 60 seconds")
    try:
        parse_prices(s.model_prices)
        operator_domains(s.network_allow)
        upstreams_for_tests(s.network_test_upstreams)
    except (PriceError, AllowlistError) as exc:
        raise SettingsError(str(exc)) from None
    if s.sandbox not in ("bwrap", "subprocess"):
        raise SettingsError(f"CODEXBOT_SANDBOX must be 'bwrap' or 'subprocess', not {s.sandbox!r}")
    if s.min_permission not in PERMISSION_LEVELS:
        raise SettingsError(f"CODEXBOT_MIN_PERMISSION must be one of {', '.join(PERMISSION_LEVELS)}, not {s.min_permission!r}")
    if s.job_timeout < 60:
        raise SettingsError("CODEXBOT_JOB_TIMEOUT must be at least 60 seconds")
    if s.api_rate_per_minute < 1:
        raise SettingsError(f"CODEXBOT_API_RATE_PER_MINUTE must be at least 1, not {s.api_rate_per_minute}")
    if not 0 <= s.web_workers <= 64:
        raise SettingsError("CODEXBOT_WEB_WORKERS must be between 0 (automatic) and 64")
    if not 1 <= s.web_threads <= 256:
        raise SettingsError("CODEXBOT_WEB_THREADS must be between 1 and 256")
    if not 0 <= s.web_streams <= 256:
        raise SettingsError("CODEXBOT_WEB_STREAMS must be between 0 (live logs always poll) and 256")
    if not 0 <= s.forge_backoff <= 60:
        raise SettingsError(f"CODEXBOT_FORGE_BACKOFF must be between 0 and 60 seconds, not {s.forge_backoff}")
    for name in ("env_cache_bytes", "mirror_max_bytes", "keep_failed_seconds", "max_diff_bytes", "repo_concurrency", "rate_limit_repo",
                 "rate_limit_user", "retention_days"):
        if getattr(s, name) < 0:
            raise SettingsError(f"{env_name(name)} must be 0 or more, not {getattr(s, name)}")


def require_web_settings(s: Settings) -> None:
    """What the web server cannot start without."""
    if not s.github_webhook_secret and not s.gitlab_webhook_secret:
        raise SettingsError(
            "CODEXBOT_GITHUB_WEBHOOK_SECRET is not set: set it to the webhook secret of your GitHub App "
            "(or set CODEXBOT_GITLAB_WEBHOOK_SECRET for GitLab)"
        )


# What a worker process is built with, set once when the worker starts.
@dataclass(frozen=True)
class Services:
    settings: Settings
    redis: redis.Redis

    @property
    def workspaces(self) -> Path:
        return Path(self.settings.data_dir) / "workspaces"


_current: Services | None = None


def build_services(settings: Settings) -> Services:
    return Services(settings=settings, redis=redis.Redis.from_url(settings.redis_url, socket_timeout=10,
                                                                  socket_connect_timeout=5))


def configure(services: Services) -> None:
    global _current
    _current = services


def current() -> Services:
    if _current is None:
        raise SettingsError("the worker was not configured: start it with `codexbot worker`")
    return _current
