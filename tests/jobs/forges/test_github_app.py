"""GitHubApp against the GitHub emulator: JWT, scoped and cached installation tokens, revocation, errors."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from jobs.forges.base import ForgeAuthError, ForgeNotFound, ForgePermissionError, ForgeUnavailable
from jobs.forges.github_app import GitHubApp, load_private_key
from tests.emulators.github import GitHubEmulator
from tests.emulators.github_auth import generate_app_key

REPO, OTHER = "octo/app", "octo/other"
READ = {"contents": "read", "metadata": "read"}


@pytest.fixture
def github_emu():
    with GitHubEmulator(app_id=4242) as emu:
        emu.create_repo(REPO, {"README.md": "hello\n"})
        emu.create_repo(OTHER, {"README.md": "other\n"})
        emu.add_installation(77, [REPO, OTHER])
        yield emu
        assert emu.errors == []


class FakeClock:
    def __init__(self):
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def make_app(emu: GitHubEmulator, clock=time.time) -> GitHubApp:
    return GitHubApp(emu.url, emu.app_id, emu.app_private_key_pem, clock=clock)


def repo_id(emu: GitHubEmulator, name: str = REPO) -> int:
    return emu.state.repo(name)["id"]


def token_posts(emu: GitHubEmulator) -> list[dict]:
    return [r for r in emu.requests if r["path"].endswith("/access_tokens")]


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_app_jwt_is_rs256_backdated_a_minute_and_lives_nine_minutes(github_emu):
    before = int(time.time())
    jwt = make_app(github_emu).app_jwt()
    head, body, signature = jwt.split(".")
    public_key = serialization.load_pem_public_key(github_emu.app_public_key_pem.encode())
    public_key.verify(b64url_decode(signature), f"{head}.{body}".encode(), padding.PKCS1v15(),
                      hashes.SHA256())
    claims = json.loads(b64url_decode(body))
    assert json.loads(b64url_decode(head)) == {"alg": "RS256", "typ": "JWT"}
    assert claims["iss"] == "4242" and claims["exp"] - claims["iat"] == 600
    assert before - 60 <= claims["iat"] <= int(time.time()) - 60
    answer = requests.get(f"{github_emu.url}/app", headers={"Authorization": f"Bearer {jwt}"}, timeout=10)
    assert answer.status_code == 200


def test_installation_token_is_scoped_to_the_asked_repository_and_permissions(github_emu):
    app = make_app(github_emu)
    token = app.installation_token(77, [repo_id(github_emu)], READ)
    record = github_emu.token(token.token)
    assert record["repo_ids"] == [repo_id(github_emu)] and record["permissions"] == READ
    assert token.repository_ids == [repo_id(github_emu)] and token.permissions == READ
    assert token.expires_at == pytest.approx(time.time() + 3600, abs=5)
    body = token_posts(github_emu)[0]
    assert body["auth"] == "jwt" and body["status"] == 201


def test_token_is_reused_until_a_minute_before_it_expires(github_emu):
    clock = FakeClock()
    app = make_app(github_emu, clock)
    first = app.installation_token(77, [repo_id(github_emu)], READ)
    clock.now = first.expires_at - 61
    assert app.installation_token(77, [repo_id(github_emu)], READ).token == first.token
    other = app.installation_token(77, [repo_id(github_emu)], {"contents": "write"})
    assert other.token != first.token
    clock.now = first.expires_at - 59
    fresh = app.installation_token(77, [repo_id(github_emu)], READ)
    assert fresh.token != first.token and len(token_posts(github_emu)) == 3


def test_threads_asking_at_once_share_one_token(github_emu):
    app, tokens = make_app(github_emu), []
    threads = [threading.Thread(target=lambda: tokens.append(
        app.installation_token(77, [repo_id(github_emu)], READ).token)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(tokens)) == 1 and len(tokens) == 8 and len(token_posts(github_emu)) == 1


def test_revoke_kills_the_token_and_drops_it_from_the_cache(github_emu):
    app = make_app(github_emu)
    token = app.installation_token(77, [repo_id(github_emu)], READ).token
    app.revoke(token)
    assert github_emu.token(token)["revoked"]
    assert app.installation_token(77, [repo_id(github_emu)], READ).token != token
    app.revoke(token)  # already revoked: GitHub says 401, which is the state we wanted


def test_secrets_lists_issued_tokens_and_reprs_show_none(github_emu):
    app = make_app(github_emu)
    one = app.installation_token(77, [repo_id(github_emu)], READ)
    two = app.installation_token(77, [repo_id(github_emu, OTHER)], READ)
    assert set(app.secrets()) == {one.token, two.token}
    for text in (repr(app), repr(one), str(one)):
        assert one.token not in text and "PRIVATE KEY" not in text


def test_load_private_key_reads_a_pem_rsa_key(tmp_path):
    path = tmp_path / "app.pem"
    path.write_text(generate_app_key()[0])
    assert load_private_key(path).startswith(b"-----BEGIN PRIVATE KEY-----")


def test_missing_or_wrong_key_file_says_what_to_do(tmp_path):
    with pytest.raises(ForgeAuthError, match="does not exist: set CODEXBOT_GITHUB_PRIVATE_KEY_PATH"):
        load_private_key(tmp_path / "nope.pem")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key\n")
    with pytest.raises(ForgeAuthError) as error:
        load_private_key(garbage)
    assert str(error.value) == (f"the private key file {garbage} is not a PEM RSA key: "
                                "download it again from the App's settings page")
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "ec.pem").write_bytes(ec_key)
    with pytest.raises(ForgeAuthError, match="is not a PEM RSA key"):
        load_private_key(tmp_path / "ec.pem")
    with pytest.raises(ForgeAuthError, match="the App's private key is not a PEM RSA key"):
        GitHubApp("http://127.0.0.1:1", 1, "-----BEGIN PRIVATE KEY-----\nxx\n")


def test_uninstalled_installation_says_to_install_the_app(github_emu):
    with pytest.raises(ForgeNotFound) as error:
        make_app(github_emu).installation_token(99, [repo_id(github_emu)], READ)
    assert str(error.value).startswith("installation 99 not found: the App was uninstalled")


def test_permission_the_installation_lacks_is_named(github_emu):
    github_emu.create_repo("octo/small", {"README.md": "x"})
    github_emu.add_installation(78, ["octo/small"], permissions={"contents": "read", "metadata": "read"})
    with pytest.raises(ForgePermissionError) as error:
        make_app(github_emu).installation_token(78, [repo_id(github_emu, "octo/small")],
                                                {"contents": "read", "checks": "write"})
    assert str(error.value).startswith("the App lacks permission checks: write: add it in the App's settings")


def test_repository_outside_the_installation_is_not_found(github_emu):
    outside = github_emu.create_repo("octo/private", {"README.md": "secret\n"})
    with pytest.raises(ForgeNotFound, match="install the App on that repository"):
        make_app(github_emu).installation_token(77, [outside["id"]], READ)


def test_jwt_signed_by_another_key_is_an_auth_error(github_emu):
    stranger = GitHubApp(github_emu.url, github_emu.app_id, generate_app_key()[0])
    with pytest.raises(ForgeAuthError, match="rejected the JWT of App 4242"):
        stranger.installation_token(77, [repo_id(github_emu)], READ)
    with pytest.raises(ForgeAuthError):
        stranger.bot_login()
    assert make_app(github_emu).bot_login() == "codexbot[bot]"


def test_unreachable_github_is_unavailable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = GitHubApp(f"http://127.0.0.1:{port}", 1, generate_app_key()[0])
    with pytest.raises(ForgeUnavailable, match=f"could not reach GitHub at http://127.0.0.1:{port}"):
        app.installation_token(77, [1], READ)
