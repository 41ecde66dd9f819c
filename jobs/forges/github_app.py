"""GitHub App credentials: the RS256 App JWT and cached, down-scoped installation tokens."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterable

import requests
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from github import Auth
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from jobs.forges.base import (ForgeAuthError, ForgeError, ForgeNotFound, ForgePermissionError,
                              ForgeUnavailable)

JWT_LIFETIME = 9 * 60
JWT_BACKDATE = 60  # GitHub's advice: allows for this machine's clock running ahead of GitHub's
REFRESH_MARGIN = 60  # a token this close to expiry may die mid-request, so mint a new one
TIMEOUT = (5, 30)  # (connect, read) seconds
LEVELS = {"read": 1, "write": 2, "admin": 3}
HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
           "User-Agent": "codexbot"}


@dataclass(frozen=True)
class InstallationToken:
    """An installation token; repr leaves the token out so it never lands in a log by accident."""

    token: str = field(repr=False)
    expires_at: float
    permissions: dict[str, str]
    repository_ids: list[int]


def load_private_key(path: str | os.PathLike) -> bytes:
    """Reads the App's private key file and checks that it is a PEM RSA key."""
    try:
        with open(path, "rb") as handle:
            pem = handle.read()
    except FileNotFoundError:
        raise ForgeAuthError(f"the private key file {path} does not exist: set "
                             "CODEXBOT_GITHUB_PRIVATE_KEY_PATH to the .pem file downloaded from "
                             "the App's settings page") from None
    except OSError as error:
        raise ForgeAuthError(f"the private key file {path} cannot be read ({error.strerror}): "
                             "make it readable by the user running codexbot") from None
    parse_private_key(pem, f"the private key file {path}")
    return pem


def parse_private_key(pem: str | bytes, source: str = "the App's private key") -> rsa.RSAPrivateKey:
    """The key as an RSA key object, or a ForgeAuthError naming `source`."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None  # TypeError: encrypted with a passphrase, which GitHub's keys never are
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ForgeAuthError(f"{source} is not a PEM RSA key: download it again from the "
                             "App's settings page")
    return key


class GitHubApp:
    """Signs App JWTs and mints, caches and revokes installation tokens; thread-safe."""

    def __init__(self, api_url: str, app_id: str | int, private_key_pem: str | bytes, *,
                 clock: Callable[[], float] = time.time):
        self.api_url = api_url.rstrip("/")
        self.app_id = str(app_id)
        self._key = parse_private_key(private_key_pem)
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[tuple, InstallationToken] = {}
        self._issued: dict[str, float] = {}  # token -> expires_at, for secrets()
        self._bot_login: str | None = None
        self._session = requests.Session()
        # Retries are safe here: a duplicate token request only mints a token that expires unused.
        retry = Retry(total=2, backoff_factor=0.5, status_forcelist=(502, 503, 504),
                      allowed_methods=frozenset({"GET", "POST", "DELETE"}), raise_on_status=False)
        self._session.mount(self.api_url, HTTPAdapter(max_retries=retry))

    def __repr__(self) -> str:
        return f"GitHubApp(api_url={self.api_url!r}, app_id={self.app_id!r})"

    def app_jwt(self) -> str:
        """A JWT for the App itself; GitHub checks it against its own clock, so wall time is used."""
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT"}
        claims = {"iat": now - JWT_BACKDATE, "exp": now + JWT_LIFETIME, "iss": self.app_id}
        signing_input = f"{_b64url(_json(header))}.{_b64url(_json(claims))}"
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def installation_token(self, installation_id: int, repository_ids: list[int],
                           permissions: dict[str, str]) -> InstallationToken:
        """A token for these repositories and permissions, reused until a minute before expiry."""
        key = (int(installation_id), tuple(sorted(repository_ids)), tuple(sorted(permissions.items())))
        with self._lock:  # held while minting, so two threads never mint the same token twice
            cached = self._cache.get(key)
            if cached is not None and self._clock() < cached.expires_at - REFRESH_MARGIN:
                return cached
            token = self._mint(int(installation_id), sorted(repository_ids), dict(permissions))
            self._cache[key] = token
            self._forget_expired()
            self._issued[token.token] = token.expires_at
            return token

    def revoke(self, token: str) -> None:
        """Revokes a token at GitHub and drops it from the cache."""
        self.forget(token)
        answer = self._send("DELETE", "/installation/token", f"token {token}",
                            "revoke an installation token")
        # 401: GitHub no longer accepts the token (revoked or expired), which is what we wanted.
        if answer.status_code not in (204, 401):
            raise _unexpected(answer, "revoke an installation token")

    def forget(self, token: str) -> None:
        """Drops a token GitHub rejected from the cache, so the next request mints a new one."""
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if v.token != token}

    def secrets(self) -> Iterable[str]:
        """Every token issued so far that has not expired, for the log redactor."""
        with self._lock:
            return list(self._issued)

    def bot_login(self) -> str:
        """The login GitHub shows on the App's comments, e.g. "codexbot[bot]"."""
        if self._bot_login is None:
            answer = self._send("GET", "/app", f"Bearer {self.app_jwt()}", "read the App")
            if answer.status_code != 200:
                raise self._jwt_error(answer) if answer.status_code == 401 else _unexpected(
                    answer, "read the App")
            self._bot_login = f"{answer.json()['slug']}[bot]"
        return self._bot_login

    def _mint(self, installation_id: int, repository_ids: list[int],
              permissions: dict[str, str]) -> InstallationToken:
        body = {"repository_ids": repository_ids, "permissions": permissions}
        answer = self._send("POST", f"/app/installations/{installation_id}/access_tokens",
                            f"Bearer {self.app_jwt()}", "get an installation token", body)
        if answer.status_code != 201:
            raise self._token_error(answer, installation_id, repository_ids, permissions)
        data = answer.json()
        granted = [repo["id"] for repo in data.get("repositories") or []]
        return InstallationToken(token=data["token"], expires_at=_epoch(data["expires_at"]),
                                 permissions=data.get("permissions") or permissions,
                                 repository_ids=granted or repository_ids)

    def _forget_expired(self) -> None:
        now = self._clock()
        self._issued = {t: expires for t, expires in self._issued.items() if expires > now}

    def _send(self, method: str, path: str, authorization: str, action: str,
              body: dict | None = None) -> requests.Response:
        try:
            return self._session.request(method, self.api_url + path, json=body, timeout=TIMEOUT,
                                         headers={**HEADERS, "Authorization": authorization})
        except requests.RequestException as error:
            raise ForgeUnavailable(f"could not reach GitHub at {self.api_url} to {action} "
                                   f"({type(error).__name__}): check the network and "
                                   "CODEXBOT_GITHUB_API_URL") from error

    def _token_error(self, answer: requests.Response, installation_id: int,
                     repository_ids: list[int], permissions: dict[str, str]) -> ForgeError:
        status, message = answer.status_code, _message(answer)
        if status == 401:
            return self._jwt_error(answer)
        if status == 403:
            return ForgePermissionError(f"GitHub refused a token for installation {installation_id} "
                                        f"({message}): unsuspend the installation in its settings")
        if status == 404:
            return ForgeNotFound(f"installation {installation_id} not found: the App was uninstalled "
                                 "or the id is wrong; install the App on the repository again")
        if status == 422 and "permission" in message.lower():
            missing = self._missing_permissions(installation_id, permissions)
            return ForgePermissionError(f"the App lacks permission {missing}: add it in the App's "
                                        f"settings and accept it on installation {installation_id}")
        if status == 422:
            ids = ", ".join(str(i) for i in repository_ids)
            return ForgeNotFound(f"the GitHub App cannot access repository id {ids} through "
                                 f"installation {installation_id}: install the App on that repository")
        return _unexpected(answer, f"get a token for installation {installation_id}")

    def _missing_permissions(self, installation_id: int, wanted: dict[str, str]) -> str:
        """Names what the installation lacks; falls back to everything asked for if it can't tell."""
        answer = self._send("GET", f"/app/installations/{installation_id}",
                            f"Bearer {self.app_jwt()}", "read the installation")
        granted = answer.json().get("permissions", {}) if answer.status_code == 200 else {}
        missing = {name: level for name, level in wanted.items()
                   if LEVELS.get(level, 99) > LEVELS.get(granted.get(name, ""), 0)} or wanted
        return ", ".join(f"{name}: {level}" for name, level in sorted(missing.items()))

    def _jwt_error(self, answer: requests.Response) -> ForgeAuthError:
        return ForgeAuthError(f"GitHub rejected the JWT of App {self.app_id} ({_message(answer)}): "
                              "check CODEXBOT_GITHUB_APP_ID, that the private key belongs to that "
                              "App, and that this machine's clock is right")


def _unexpected(answer: requests.Response, action: str) -> ForgeError:
    status, message = answer.status_code, _message(answer)
    if status >= 500 or status == 429:
        return ForgeUnavailable(f"GitHub answered {status} when asked to {action} ({message}): "
                                "GitHub is having trouble or rate limiting, retry later")
    return ForgeError(f"GitHub answered {status} when asked to {action} ({message}): "
                      "check the App's settings and CODEXBOT_GITHUB_API_URL")


def _message(answer: requests.Response) -> str:
    try:
        return str(answer.json().get("message") or answer.reason)
    except (ValueError, AttributeError):
        return str(answer.reason)


def _json(value: dict) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


API_TIMEOUT = 30


def find_installation(app: GitHubApp, api_url: str, repo: str) -> tuple[int, int]:
    """The App installation on repo and the repository's id, asked of GitHub (not taken from the client)."""
    answer = requests.get(f"{api_url.rstrip('/')}/repos/{repo}/installation", timeout=API_TIMEOUT,
                          headers={"Authorization": f"Bearer {app.app_jwt()}",
                                   "Accept": "application/vnd.github+json"})
    if answer.status_code == 404:
        raise ForgeNotFound(f"the codexbot GitHub App is not installed on {repo}: install it there, then delegate again")
    if answer.status_code != 200:
        raise ForgeUnavailable(f"GitHub answered {answer.status_code} when asked for the installation on {repo}")
    installation_id = int(answer.json()["id"])
    token = app.installation_token(installation_id, [], {"metadata": "read"})
    info = requests.get(f"{api_url.rstrip('/')}/repos/{repo}", timeout=API_TIMEOUT,
                        headers={"Authorization": f"token {token.token}", "Accept": "application/vnd.github+json"})
    if info.status_code != 200:
        raise ForgeNotFound(f"GitHub did not show {repo} to its App installation ({info.status_code})")
    return installation_id, int(info.json()["id"])


class InstallationAuth(Auth.Auth):
    """Fetches the api token per request, so a job longer than an hour never sends an expired one."""

    def __init__(self, fetch_token):
        self._fetch_token = fetch_token

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        return self._fetch_token()

    @property
    def _masked_token(self) -> str:
        return "token (removed)"
