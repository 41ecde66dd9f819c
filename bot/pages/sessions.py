"""The signed session cookie of signed-in viewers: HttpOnly, SameSite=Lax, Secure behind https."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from flask import Flask

from jobs.settings import Settings

SESSION_HOURS = 12


def configure_sessions(app: Flask, settings: Settings) -> None:
    """Sign the cookie with a key derived from CODEXBOT_SECRET_KEY (never the key itself: it also signs links)."""
    if settings.secret_key:
        app.secret_key = hmac.new(settings.secret_key.encode(), b"codexbot session cookie", hashlib.sha256).hexdigest()
    app.config.update(SESSION_COOKIE_NAME="codexbot_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS))
