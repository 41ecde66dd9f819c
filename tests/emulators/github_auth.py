"""GitHub App credentials for the emulator: RS256 JWT checks and scoped installation tokens."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .github_state import ApiError, GitHubState

FULL_PERMISSIONS = {"contents": "write", "issues": "write", "pull_requests": "write",
                    "checks": "write", "actions": "read", "statuses": "read", "metadata": "read"}
LEVELS = {"read": 1, "write": 2, "admin": 3}
TOKEN_LIFETIME = 3600
JWT_UNDECODABLE = "A JSON web token could not be decoded"


def generate_app_key() -> tuple[str, str]:
    """Returns (private PEM, public PEM) of a fresh 2048-bit RSA key for a test App."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


@dataclass
class Caller:
    """Who is calling: kind is "none", "jwt", "token" or "basic"; token is the installation token."""

    kind: str = "none"
    token: dict | None = None


def parse_authorization(header: str) -> tuple[str, str]:
    """Splits an Authorization header into (scheme, credential); Basic yields the password."""
    scheme, _, value = header.strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "basic":
        try:
            _, _, value = base64.b64decode(value).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(401, "Bad credentials")
    return scheme, value


def sign_app_jwt(private_key_pem: str, app_id: int, lifetime: int = 540, issued_ago: int = 60) -> str:
    """An App JWT as GitHub expects it (RS256, iss = app id); for tests that call the API raw."""
    now = int(time.time())
    parts = [{"alg": "RS256", "typ": "JWT"},
             {"iat": now - issued_ago, "exp": now + lifetime, "iss": str(app_id)}]
    signing_input = ".".join(_b64url_encode(json.dumps(p).encode()) for p in parts)
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url_encode(signature)}"


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_app_jwt(jwt: str, app_id: int, public_key_pem: str) -> dict:
    """Checks signature, issuer and lifetime the way GitHub does; returns the claims."""
    try:
        head, body, signature = jwt.split(".")
        header, claims = json.loads(_b64url(head)), json.loads(_b64url(body))
        raw_signature = _b64url(signature)
    except (ValueError, binascii.Error):
        raise ApiError(401, JWT_UNDECODABLE)
    if header.get("alg") != "RS256":
        raise ApiError(401, JWT_UNDECODABLE)
    public_key = serialization.load_pem_public_key(public_key_pem.encode())
    try:
        public_key.verify(raw_signature, f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise ApiError(401, JWT_UNDECODABLE)
    _check_claims(claims, app_id)
    return claims


def _check_claims(claims: dict, app_id: int) -> None:
    now = time.time()
    iat, exp = claims.get("iat"), claims.get("exp")
    if str(claims.get("iss")) != str(app_id):
        raise ApiError(401, "Integration not found")
    if not isinstance(iat, int) or iat > now + 60:
        raise ApiError(401, "'Issued at' claim ('iat') must be an Integer representing the time "
                            "that the assertion was issued")
    if not isinstance(exp, int) or exp <= now:
        raise ApiError(401, "'Expiration time' claim ('exp') must be a numeric value representing "
                            "the future time at which the assertion expires")
    if exp - iat > 600 or exp > now + 600:
        raise ApiError(401, "'Expiration time' claim ('exp') is too far in the future")


def identify(header: str | None, state: GitHubState, app_id: int, public_key_pem: str) -> Caller:
    """Turns an Authorization header into a Caller, or raises 401 for bad credentials."""
    if not header:
        return Caller()
    scheme, credential = parse_authorization(header)
    if scheme == "bearer" and credential.count(".") == 2:
        verify_app_jwt(credential, app_id, public_key_pem)
        return Caller("jwt")
    if scheme not in ("bearer", "token", "basic"):
        raise ApiError(401, "Bad credentials")
    with state.lock:
        token = state.tokens.get(credential)
    if token is None or token["revoked"] or token["expires"] <= time.time():
        raise ApiError(401, "Bad credentials")
    return Caller("basic" if scheme == "basic" else "token", token)


def mint_token(state: GitHubState, installation: dict, body: dict) -> dict:
    """Creates an installation token narrowed to the requested repositories and permissions."""
    repo_ids = _requested_repos(state, installation, body)
    granted = installation["permissions"]
    wanted = body.get("permissions") or dict(granted)
    for name, level in wanted.items():
        if LEVELS.get(level, 99) > LEVELS.get(granted.get(name, ""), 0):
            raise ApiError(422, "The permissions requested are not granted to this installation.")
    token = {"token": "ghs_" + secrets.token_urlsafe(27), "installation_id": installation["id"],
             "repo_ids": repo_ids, "selection": "selected" if body.get("repository_ids")
             or body.get("repositories") else "all",
             "permissions": {**wanted, "metadata": "read"}, "expires": time.time() + TOKEN_LIFETIME,
             "revoked": False}
    with state.lock:
        state.tokens[token["token"]] = token
    return token


def _requested_repos(state: GitHubState, installation: dict, body: dict) -> list[int]:
    ids = list(body.get("repository_ids") or [])
    for name in body.get("repositories") or []:
        full_name = name if "/" in name else f"{installation['account']['login']}/{name}"
        ids.append(_repo_id_or_422(state, full_name))
    if not ids:
        return list(installation["repo_ids"])
    if any(i not in installation["repo_ids"] for i in ids):
        raise ApiError(422, "There is at least one repository that does not exist or is not "
                            "accessible to the parent installation.")
    return sorted(set(ids))


def _repo_id_or_422(state: GitHubState, full_name: str) -> int:
    try:
        return state.repo(full_name)["id"]
    except ApiError:
        raise ApiError(422, "There is at least one repository that does not exist or is not "
                            "accessible to the parent installation.")


def expires_at_iso(token: dict) -> str:
    return datetime.fromtimestamp(token["expires"], timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def require(caller: Caller, repo: dict, permission: str, level: str = "read",
            also: str | None = None) -> None:
    """404 when the token cannot see the repository, 403 when it lacks the permission.

    `also` names a second permission that is accepted instead, as GitHub accepts
    pull_requests for issue comments on a pull request.
    """
    if caller.kind == "none":
        raise ApiError(401, "Requires authentication")
    if caller.token is None or repo["id"] not in caller.token["repo_ids"]:
        raise ApiError(404, "Not Found")
    held = caller.token["permissions"]
    if not any(LEVELS.get(held.get(p, ""), 0) >= LEVELS[level] for p in (permission, also) if p):
        raise ApiError(403, "Resource not accessible by integration")


def require_jwt(caller: Caller) -> None:
    if caller.kind != "jwt":
        raise ApiError(401, JWT_UNDECODABLE)
