"""`codexbot setup github`: create the GitHub App from app.yml through GitHub's manifest flow.

A local page posts the manifest to GitHub; GitHub sends the browser back with a one-time code, which is
converted into the App's id, private key, webhook secret and client credentials, saved into the config.
"""

from __future__ import annotations

import html
import json
import secrets
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml
from flask import Flask, abort, request
from werkzeug.serving import make_server

CONVERSION_TIMEOUT = 30


class SetupError(RuntimeError):
    """The flow could not finish; the message says what to do."""


@dataclass(frozen=True)
class SetupResult:
    app_id: int
    slug: str
    install_url: str
    key_path: Path
    config_path: Path


def load_manifest(path: Path, public_url: str, callback_url: str) -> dict:
    """app.yml with the server's public URL filled in and GitHub sent back to this local page."""
    try:
        manifest = yaml.safe_load(path.read_text().replace("{public_url}", public_url.rstrip("/")))
    except (OSError, yaml.YAMLError) as exc:
        raise SetupError(f"the manifest {path} cannot be read: {exc}") from None
    manifest["redirect_url"] = callback_url
    return manifest


def write_config(config_path: Path, values: dict[str, object]) -> None:
    """Merge values into a flat codexbot.toml, keeping what is already there."""
    current = tomllib.loads(config_path.read_text()) if config_path.exists() else {}
    current.update(values)
    lines = [f"{key} = {json.dumps(value)}" for key, value in current.items()]
    config_path.write_text("\n".join(lines) + "\n")
    config_path.chmod(0o600)  # it holds the webhook secret and the client secret


def save_app(conversion: dict, config_path: Path) -> SetupResult:
    key_path = config_path.parent / f"{conversion['slug']}.private-key.pem"
    key_path.touch(mode=0o600)
    key_path.chmod(0o600)
    key_path.write_text(conversion["pem"])
    write_config(config_path, {
        "github_app_id": str(conversion["id"]), "github_private_key_path": str(key_path.resolve()),
        "github_webhook_secret": conversion["webhook_secret"], "github_client_id": conversion["client_id"],
        "github_client_secret": conversion["client_secret"], "github_bot_login": f"{conversion['slug']}[bot]",
    })
    return SetupResult(conversion["id"], conversion["slug"], f"{conversion['html_url']}/installations/new",
                       key_path, config_path)


def convert_code(api_url: str, code: str) -> dict:
    try:
        resp = requests.post(f"{api_url.rstrip('/')}/app-manifests/{code}/conversions", timeout=CONVERSION_TIMEOUT,
                             headers={"Accept": "application/vnd.github+json"})
    except requests.RequestException as exc:
        raise SetupError(f"GitHub could not be reached to finish the App ({type(exc).__name__}): try again") from None
    if resp.status_code == 404:
        raise SetupError("GitHub did not know the code (it is valid for one hour and one use): run setup again")
    if resp.status_code != 201:
        raise SetupError(f"GitHub refused to create the App (HTTP {resp.status_code}): {resp.text[:200]}")
    return resp.json()


class ManifestFlow:
    """The local web page for one run of the flow; `wait()` returns once GitHub sent the person back."""

    def __init__(self, manifest: dict, github_url: str, api_url: str, org: str | None, config_path: Path, port: int):
        self.manifest, self.api_url, self.config_path = manifest, api_url, config_path
        base = github_url.rstrip("/")
        self.action = f"{base}/organizations/{org}/settings/apps/new" if org else f"{base}/settings/apps/new"
        self.state = secrets.token_urlsafe(16)
        self.done = threading.Event()
        self.result: SetupResult | None = None
        self.error: SetupError | None = None
        self.server = make_server("127.0.0.1", port, self._app())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/"

    def _app(self) -> Flask:
        app = Flask(__name__)
        app.add_url_rule("/", "start", self._start)
        app.add_url_rule("/callback", "callback", self._callback)
        return app

    def _start(self):
        manifest = html.escape(json.dumps(self.manifest), quote=True)
        return (f'<!doctype html><title>codexbot setup</title><form method="post" action="{html.escape(self.action)}'
                f'?state={self.state}"><input type="hidden" name="manifest" value="{manifest}">'
                f'<p>Create the GitHub App <b>{html.escape(str(self.manifest.get("name")))}</b> on GitHub.</p>'
                f'<button type="submit">Create on GitHub</button></form>')

    def _callback(self):
        if request.args.get("state") != self.state:
            abort(400, "this page was not opened by this setup run")
        try:
            self.result = save_app(convert_code(self.api_url, request.args.get("code", "")), self.config_path)
            body = f"<p>Done. Install the App: <a href='{html.escape(self.result.install_url)}'>{html.escape(self.result.install_url)}</a></p>"
        except SetupError as exc:
            self.error, body = exc, f"<p>{html.escape(str(exc))}</p>"
        self.done.set()
        return f"<!doctype html><title>codexbot setup</title>{body}"

    def wait(self, timeout: float) -> SetupResult:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            if not self.done.wait(timeout):
                raise SetupError(f"nobody came back from GitHub within {timeout:.0f} s: run setup again")
        finally:
            self.server.shutdown()
        if self.error is not None:
            raise self.error
        return self.result
