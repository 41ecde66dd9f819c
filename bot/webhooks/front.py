"""The webhook front door: POSTs to /webhooks/github and /webhooks/gitlab are answered here, before Flask.

A delivery needs no session, no routing table, no request object and no error pages, and Flask's share of a
delivery's time was about half of it (bench/webhook.py), so the two routes are plain WSGI in the same app and
the same process; every other request, and any other method on these paths (405), goes on to Flask.
`mount` is called when the webhook blueprints are registered, so `create_app` builds an app that has it.
"""

from __future__ import annotations

import logging
from typing import Callable, Iterable

from werkzeug.exceptions import HTTPException
from werkzeug.wsgi import get_input_stream

from bot.state import AppState, get_state
from bot.webhooks.delivery import Answer, Refused
from jobs.settings import MAX_WEBHOOK_BYTES

Handler = Callable[[AppState, "Request"], Answer]
log = logging.getLogger("codexbot.webhook")


class Request:
    """What a webhook handler reads of a request: its headers by name, its content type and its body."""

    def __init__(self, environ: dict):
        self.environ = environ
        self._stream = None

    def header(self, name: str) -> str:
        return self.environ.get("HTTP_" + name.upper().replace("-", "_"), "")

    @property
    def content_type(self) -> str:
        return self.environ.get("CONTENT_TYPE", "")

    @property
    def stream(self):
        """The body, at most MAX_WEBHOOK_BYTES: a longer declared length is refused (413) before any is read."""
        if self._stream is None:
            try:
                self._stream = get_input_stream(self.environ, max_content_length=MAX_WEBHOOK_BYTES)
            except HTTPException as exc:
                raise Refused(exc.code or 400, exc.description or exc.name) from None
        return self._stream

    def body(self) -> bytes:
        """The whole body. With a Content-Length it is read from the server's input in one call (werkzeug reads
        64 KiB at a time); without one, through werkzeug's limit, which refuses past MAX_WEBHOOK_BYTES."""
        length = self.environ.get("CONTENT_LENGTH", "")
        if self._stream is None and length.isdigit() and int(length) <= MAX_WEBHOOK_BYTES:
            return _read_exactly(self.environ["wsgi.input"], int(length))
        try:
            data = self.stream.read()
            if not length and getattr(self.stream, "is_exhausted", False):
                self.stream.read(1)  # a body of unknown length that reached the limit: werkzeug raises 413
            return data
        except HTTPException as exc:
            raise Refused(exc.code or 400, exc.description or exc.name) from None


def _read_exactly(stream, size: int) -> bytes:
    """`size` bytes, or fewer when the client stopped sending (a read may return less than asked)."""
    data = stream.read(size)
    if len(data) >= size or not data:
        return data
    parts = [data]
    while size > (got := sum(map(len, parts))):  # each turn reads at least one byte or ends
        chunk = stream.read(size - got)
        if not chunk:
            break
        parts.append(chunk)
    return b"".join(parts)


def answer_webhook(handler: Handler, state: AppState, environ: dict) -> Answer:
    """Run a handler; a refusal is its one-line answer, a bug a 500 with the traceback in the log."""
    try:
        return handler(state, Request(environ))
    except Refused as refused:
        return refused.answer()
    except Exception:  # the server's last resort, as Flask's own: log it and answer, never leave the forge hanging
        log.exception("webhook handler failed")
        return Refused(500, "codexbot failed to handle the delivery; please redeliver").answer()


class WebhookFront:
    """WSGI middleware: the webhook routes by exact path, everything else to the wrapped app."""

    def __init__(self, wrapped, state: AppState, routes: dict[str, Handler]):
        self.wrapped, self.state, self.routes = wrapped, state, routes

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        handler = self.routes.get(environ.get("PATH_INFO", ""))
        if handler is None or environ.get("REQUEST_METHOD") != "POST":
            return self.wrapped(environ, start_response)
        answer = answer_webhook(handler, self.state, environ)
        start_response(f"{answer.status} {_REASONS.get(answer.status, 'Unknown')}",
                       [("Content-Type", answer.content_type), ("Content-Length", str(len(answer.body)))])
        return [answer.body]


def mount(app, path: str, handler: Handler) -> None:
    """Answer POSTs to `path` with `handler` in front of the app's WSGI callable (one front door per app)."""
    front = app.wsgi_app
    if not isinstance(front, WebhookFront):
        with app.app_context():
            state = get_state()
        front = app.wsgi_app = WebhookFront(app.wsgi_app, state, {})
    front.routes[path] = handler


_REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            413: "Request Entity Too Large", 500: "Internal Server Error", 503: "Service Unavailable"}
