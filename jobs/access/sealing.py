"""Encryption at rest: one Fernet key per purpose, derived from CODEXBOT_SECRET_KEY with HKDF-SHA256, so run
links, viewers' sessions, GitLab tokens and setup secrets never share a key."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from jobs.settings import SettingsError


def fernet_for(secret_key: str, purpose: bytes, guards: str = "") -> Fernet:
    """The Fernet of one purpose (e.g. b"codexbot gitlab tokens v1"): the purpose binds the derived key to it.
    With `guards` (what it encrypts), a missing secret key is one sentence saying so."""
    if guards and not secret_key:
        raise SettingsError(f"CODEXBOT_SECRET_KEY is not set: it encrypts {guards}, so set it to a long random "
                            "string and keep it")
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(raw))
