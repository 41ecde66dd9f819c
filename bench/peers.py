"""The servers bench/webhook.py compares, each started as its users would start it: the argv and environment.

- bare flask: an endpoint that only answers 200, served by the same server, workers and threads as codexbot;
- Probot: the minimal app in bench/probot (Probot verifies the signature and parses the delivery, the app's
  handler does nothing), installed with npm from its lock file and run by Probot's own `probot run`;
- codexbot: `codexbot serve`, as an operator runs it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parent.parent
PROBOT_DIR = ROOT / "bench" / "probot"

Command = tuple[list[str], dict[str, str]]


def install_probot() -> str:
    """npm-install the Probot app (a no-op when node_modules is current); returns Probot's version."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if not npm or not node:
        raise SystemExit("Node and npm are needed for the Probot peer: apt-get install nodejs npm")
    done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PROBOT_DIR,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"npm install in {PROBOT_DIR} failed:\n{done.stderr[-2000:]}")
    node_version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    package = (PROBOT_DIR / "node_modules" / "probot" / "package.json").read_text()
    version = package.split('"version":', 1)[1].split('"')[1]
    return f"Probot {version} on Node {node_version}"


def probot(port: int, secret: str, env: dict[str, str]) -> Command:
    """Probot in production mode: JSON logs at its default level (info), one line per request, as deployed."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    argv = [shutil.which("node") or "node", str(PROBOT_DIR / "node_modules" / "probot" / "bin" / "probot.js"),
            "run", str(PROBOT_DIR / "app.js")]
    return argv, dict(env, NODE_ENV="production", LOG_FORMAT="json", APP_ID="1", PRIVATE_KEY=key.decode(),
                      WEBHOOK_SECRET=secret, HOST="127.0.0.1", PORT=str(port), WEBHOOK_PATH="/webhooks/github")


def bare_flask(port: int, workers: int, threads: int, env: dict[str, str]) -> Command:
    return ([sys.executable, "-m", "granian", "--interface", "wsgi", "--http", "1", "--no-ws", "--workers",
             str(workers), "--blocking-threads", str(threads), "--host", "127.0.0.1", "--port", str(port),
             "bench.bare_app:app"], env)


def codexbot(port: int, workers: int, env: dict[str, str]) -> Command:
    argv = [sys.executable, "-m", "cli", "serve", "--port", str(port)]
    return (argv + ["--workers", str(workers)] if workers else argv), env
