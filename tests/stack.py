"""The whole product on one machine for tests, benchmarks and the demo: emulated GitHub, GitLab and
OpenAI, the bot's web app, and real `codexbot worker` processes, all on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import fields
from pathlib import Path

import redis

from bot import create_app
from jobs.forges.gitlab_tokens import TokenStore
from jobs.settings import Settings, env_name, load_settings

REAL_MODEL_SETTINGS = ("openai_api_key", "openai_base_url", "model", "model_api", "reasoning_effort", "model_timeout",
                       "model_retries", "model_max_tokens", "model_prices", "context_tokens", "max_tokens", "max_cost",
                       "agent_seconds")
from tests import sample_repo
from tests.emulators.github import GitHubEmulator
from tests.emulators.gitlab import GitLabEmulator
from tests.emulators.openai_api import OpenAIEmulator
from tests.emulators.serving import BackgroundServer

INSTALLATION_ID = 77
WEBHOOK_SECRET = "stack-webhook-secret"
MODEL_KEY = "sk-emulated-model-key-0123456789"
GITLAB_TOKEN = "glpat-stack-project-token-0123456789"
ROOT = Path(__file__).resolve().parent.parent


class Stack:
    """Start with `with Stack(redis_url) as stack:`; on both forges the sample repository octo/calc has the
    users alice (write / Developer) and mallory (read / Reporter). `overrides` sets further Settings fields;
    the rate limits are off unless given there, so benchmarks can flood one repository."""

    def __init__(self, redis_url: str, script: list | None = None, workdir: Path | None = None,
                 real_model: bool = False, overrides: dict | None = None):
        self.redis_url = redis_url
        self.overrides = {"rate_limit_repo": 0, "rate_limit_user": 0, **(overrides or {})}
        self.real_model = real_model  # use OPENAI_API_KEY / OPENAI_BASE_URL / CODEXBOT_MODEL from the environment
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="codexbot-stack-"))
        self.github = GitHubEmulator()
        self.gitlab = GitLabEmulator()
        self.model = OpenAIEmulator(script=script if script is not None else sample_repo.fix_script(), api_key=MODEL_KEY)
        self.web: BackgroundServer | None = None
        self.settings: Settings | None = None
        self.workers: list[subprocess.Popen] = []

    def start(self) -> "Stack":
        self.github.start()
        self.gitlab.start()
        self.model.start()
        self.repo = self.github.create_repo(sample_repo.REPO, sample_repo.FILES)
        self.github.add_installation(INSTALLATION_ID, [sample_repo.REPO])
        self.github.add_user("alice", {sample_repo.REPO: "write"})
        self.github.add_user("mallory", {sample_repo.REPO: "read"})
        self.gitlab_project = self.gitlab.create_project(sample_repo.REPO, sample_repo.FILES)
        self.gitlab.add_user("alice", {sample_repo.REPO: 30})
        self.gitlab.add_user("mallory", {sample_repo.REPO: 20})
        self.gitlab_bot = self.gitlab.add_token(GITLAB_TOKEN, sample_repo.REPO)
        key_path = self.workdir / "app-key.pem"
        key_path.write_text(self.github.app_private_key_pem)
        key_path.chmod(0o600)
        self._lazy_app = _LazyApp()
        self.web = BackgroundServer(self._lazy_app)
        self.web.start()
        self.settings = Settings(**{
            "redis_url": self.redis_url, "data_dir": str(self.workdir / "data"), "public_url": self.web.url,
            "secret_key": "stack-secret-key-for-links", "github_webhook_secret": (WEBHOOK_SECRET,),
            "github_app_id": str(self.github.app_id), "github_private_key_path": str(key_path),
            "github_api_url": self.github.url, "gitlab_url": self.gitlab.url, "gitlab_webhook_secret": (WEBHOOK_SECRET,),
            **self._model_settings(), **self.overrides})
        self._lazy_app.app = create_app(self.settings)
        self.github.set_webhook(self.web.url + "/webhooks/github", WEBHOOK_SECRET)
        self.gitlab.set_webhook(self.web.url + "/webhooks/gitlab", WEBHOOK_SECRET)
        TokenStore(redis.Redis.from_url(self.redis_url), self.settings.secret_key).add(sample_repo.REPO, GITLAB_TOKEN)
        return self

    def _model_settings(self) -> dict[str, str]:
        if self.real_model:  # the model settings of the environment, all of them (the demo with a local server)
            chosen = load_settings(os.environ)
            return {name: getattr(chosen, name) for name in REAL_MODEL_SETTINGS if hasattr(chosen, name)}
        return {"openai_api_key": MODEL_KEY, "openai_base_url": self.model.url + "/v1", "model": "emulated-model"}

    def env(self) -> dict[str, str]:
        """The environment a `codexbot worker` gets: the same settings, as variables."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEXBOT_", "OPENAI_"))}
        for f in fields(Settings):
            value = getattr(self.settings, f.name)
            if value != f.default and value not in ((), ""):
                env[env_name(f.name)] = ",".join(value) if isinstance(value, tuple) else str(value)
        return env

    def run_worker_burst(self, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run one worker until the queue is empty."""
        return subprocess.run([sys.executable, "-m", "cli", "worker", "--burst"], env=self.env(), cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)

    def work(self, timeout: float = 180) -> None:
        """Run one worker until the queue is empty; a worker that exits with an error fails the test."""
        proc = self.run_worker_burst(timeout)
        assert proc.returncode == 0, proc.stderr[-3000:]

    def start_worker(self, log_path: Path | None = None, queues: tuple[str, ...] = ()) -> subprocess.Popen:
        out = open(log_path, "w") if log_path else subprocess.DEVNULL
        argv = [sys.executable, "-m", "cli", "worker"] + [arg for q in queues for arg in ("--queue", q)]
        proc = subprocess.Popen(argv, env=self.env(), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        self.workers.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if self.web is not None:
            self.web.stop()
        self.model.stop()
        self.gitlab.stop()
        self.github.stop()

    def __enter__(self) -> "Stack":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _LazyApp:
    """The web server must be listening before the app's settings (its public URL) are known."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)
