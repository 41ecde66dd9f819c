"""The whole product on one machine for tests, benchmarks and the demo: emulated GitHub and OpenAI,
the bot's web app, and real `codexbot worker` processes, all on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bot import create_app
from jobs.settings import Settings
from tests import sample_repo
from tests.emulators.github import GitHubEmulator
from tests.emulators.openai_api import OpenAIEmulator
from tests.emulators.serving import BackgroundServer

INSTALLATION_ID = 77
WEBHOOK_SECRET = "stack-webhook-secret"
MODEL_KEY = "sk-emulated-model-key-0123456789"
ROOT = Path(__file__).resolve().parent.parent


class Stack:
    """Start with `with Stack(redis_url) as stack:`; users: alice (write), mallory (read)."""

    def __init__(self, redis_url: str, script: list | None = None, workdir: Path | None = None,
                 real_model: bool = False):
        self.redis_url = redis_url
        self.real_model = real_model  # use OPENAI_API_KEY / OPENAI_BASE_URL / CODEXBOT_MODEL from the environment
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="codexbot-stack-"))
        self.github = GitHubEmulator()
        self.model = OpenAIEmulator(script=script if script is not None else sample_repo.fix_script(), api_key=MODEL_KEY)
        self.web: BackgroundServer | None = None
        self.settings: Settings | None = None
        self.workers: list[subprocess.Popen] = []

    def start(self) -> "Stack":
        self.github.start()
        self.model.start()
        self.repo = self.github.create_repo(sample_repo.REPO, sample_repo.FILES)
        self.github.add_installation(INSTALLATION_ID, [sample_repo.REPO])
        self.github.add_user("alice", {sample_repo.REPO: "write"})
        self.github.add_user("mallory", {sample_repo.REPO: "read"})
        key_path = self.workdir / "app-key.pem"
        key_path.write_text(self.github.app_private_key_pem)
        key_path.chmod(0o600)
        self._lazy_app = _LazyApp()
        self.web = BackgroundServer(self._lazy_app)
        self.web.start()
        self.settings = Settings(
            redis_url=self.redis_url, data_dir=str(self.workdir / "data"), public_url=self.web.url,
            secret_key="stack-secret-key-for-links", github_webhook_secret=(WEBHOOK_SECRET,),
            github_app_id=str(self.github.app_id), github_private_key_path=str(key_path),
            github_api_url=self.github.url, **self._model_settings())
        self._lazy_app.app = create_app(self.settings)
        self.github.set_webhook(self.web.url + "/webhooks/github", WEBHOOK_SECRET)
        return self

    def _model_settings(self) -> dict[str, str]:
        if self.real_model:
            return {"openai_api_key": os.environ["OPENAI_API_KEY"], "openai_base_url": os.environ.get("OPENAI_BASE_URL", ""),
                    "model": os.environ.get("CODEXBOT_MODEL", Settings.model)}
        return {"openai_api_key": MODEL_KEY, "openai_base_url": self.model.url + "/v1", "model": "emulated-model"}

    def env(self) -> dict[str, str]:
        """The environment a `codexbot worker` gets: the same settings, as variables."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEXBOT_", "OPENAI_"))}
        s = self.settings
        env.update(CODEXBOT_REDIS_URL=s.redis_url, CODEXBOT_DATA_DIR=s.data_dir, CODEXBOT_PUBLIC_URL=s.public_url,
                   CODEXBOT_SECRET_KEY=s.secret_key, CODEXBOT_GITHUB_WEBHOOK_SECRET=WEBHOOK_SECRET,
                   CODEXBOT_GITHUB_APP_ID=s.github_app_id, CODEXBOT_GITHUB_PRIVATE_KEY_PATH=s.github_private_key_path,
                   CODEXBOT_GITHUB_API_URL=s.github_api_url, OPENAI_API_KEY=s.openai_api_key,
                   OPENAI_BASE_URL=s.openai_base_url, CODEXBOT_MODEL=s.model)
        return env

    def run_worker_burst(self, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run one worker until the queue is empty."""
        return subprocess.run([sys.executable, "-m", "bot", "worker", "--burst"], env=self.env(), cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)

    def start_worker(self, log_path: Path | None = None) -> subprocess.Popen:
        out = open(log_path, "w") if log_path else subprocess.DEVNULL
        proc = subprocess.Popen([sys.executable, "-m", "bot", "worker"], env=self.env(), cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT)
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
