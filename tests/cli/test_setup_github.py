"""`codexbot setup github` end to end against the emulator: page, GitHub's redirect, conversion, config."""

import re
import stat
import subprocess
import sys
import time
import tomllib
from html import unescape

import pytest
import requests

from tests.emulators.github import GitHubEmulator
from tests.services import free_port
from tests.stack import ROOT


@pytest.fixture
def github():
    with GitHubEmulator() as emu:
        yield emu


def start_setup(github, tmp_path, *extra):
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "CODEXBOT_GITHUB_API_URL": github.url, "CODEXBOT_PUBLIC_URL": "https://bot.example.com"}
    proc = subprocess.Popen([sys.executable, "-m", "cli", "--config", str(tmp_path / "codexbot.toml"), "setup", "github",
                             "--port", str(port), "--github-url", github.url, "--timeout", "60", *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    page_url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            return proc, requests.get(page_url, timeout=2)
        except requests.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail("the setup page did not come up: " + proc.communicate()[1])


def submit(page):
    """Do what the browser does: post the form to GitHub and follow GitHub's redirect back."""
    action = unescape(re.search(r'action="([^"]+)"', page.text).group(1))
    manifest = unescape(re.search(r'name="manifest" value="([^"]+)"', page.text).group(1))
    to_github = requests.post(action, data={"manifest": manifest}, allow_redirects=False, timeout=5)
    assert to_github.status_code == 302
    return requests.get(to_github.headers["Location"], timeout=10)


def test_manifest_flow_creates_the_app_and_saves_its_credentials(github, tmp_path):
    proc, page = start_setup(github, tmp_path)
    back = submit(page)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "installations/new" in back.text and "installations/new" in out
    manifest = github.converted[0]
    assert manifest["hook_attributes"]["url"] == "https://bot.example.com/webhooks/github"
    assert manifest["default_permissions"]["contents"] == "write" and "issue_comment" in manifest["default_events"]
    config = tomllib.loads((tmp_path / "codexbot.toml").read_text())
    assert config["github_app_id"] == str(github.app_id) and len(config["github_webhook_secret"]) == 40
    key = tmp_path / "codexbot.private-key.pem"
    assert key.read_text() == github.app_private_key_pem
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and stat.S_IMODE((tmp_path / "codexbot.toml").stat().st_mode) == 0o600
    # the saved settings work: codexbot check authenticates as the App
    check = subprocess.run([sys.executable, "-m", "cli", "--config", str(tmp_path / "codexbot.toml"), "check", "--offline"],
                           cwd=ROOT, env={"PATH": "/usr/bin:/bin", "CODEXBOT_GITHUB_API_URL": github.url},
                           capture_output=True, text=True, timeout=60)
    assert "ok   github app" in check.stdout, check.stdout + check.stderr


def test_organization_apps_go_to_the_org_page(github, tmp_path):
    proc, page = start_setup(github, tmp_path, "--org", "octo-org")
    assert "/organizations/octo-org/settings/apps/new" in page.text
    submit(page)
    assert proc.wait(30) == 0


def test_a_reused_code_is_a_clear_error(github, tmp_path):
    proc, page = start_setup(github, tmp_path)
    action = unescape(re.search(r'action="([^"]+)"', page.text).group(1))
    manifest = unescape(re.search(r'name="manifest" value="([^"]+)"', page.text).group(1))
    location = requests.post(action, data={"manifest": manifest}, allow_redirects=False, timeout=5).headers["Location"]
    code = re.search(r"code=(\w+)", location).group(1)
    requests.post(f"{github.url}/app-manifests/{code}/conversions", timeout=5)  # someone used it first
    back = requests.get(location, timeout=10)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode != 0 and "run setup again" in err and "run setup again" in back.text
