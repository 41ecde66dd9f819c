"""Fault injection for the emulators: a WSGI middleware that makes chosen requests fail, stall or break.

Each rule matches a method and a path pattern (and optionally a text in the body) and acts on the next
`times` matching requests: answer a status with headers and body, drop the connection mid-response,
hold the request until the test releases it, or delay it. Requests no rule takes go to the emulator.
"""

from __future__ import annotations

import io
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field

HOLD_LIMIT = 120.0  # seconds a held request waits at most, so a forgotten hold never hangs a test run


@dataclass
class Rule:
    """One scripted fault; `hits` counts the requests it took, `entered` is set on the first."""

    method: str
    path: str
    action: str  # "fail", "reset", "hold" or "delay"
    times: int
    status: int = 500
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    contains: str = ""
    seconds: float = 0.0
    hits: int = 0
    deliver: bool = True  # a held request goes on to the emulator when released, unless released with False
    entered: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def matches(self, method: str, path: str) -> bool:
        return self.hits < self.times and self.method in ("*", method) and re.search(self.path, path) is not None

    def release(self, deliver: bool = True) -> None:
        """Lets held requests go on; with deliver=False they never reach the emulator (as if lost on the way)."""
        self.deliver = deliver
        self.released.set()

    def wait_entered(self, timeout: float = 60) -> bool:
        return self.entered.wait(timeout)


class Faults:
    """Wraps an emulator's WSGI app; the test adds rules, the emulator stays unaware of them."""

    def __init__(self, app):
        self.app = app
        self.rules: list[Rule] = []
        self.lock = threading.Lock()

    def fail(self, method: str, path: str, status: int, *, times: int = 1, headers: dict | None = None,
             body: dict | str | None = None, contains: str = "") -> Rule:
        """The next `times` matching requests are answered `status`, never reaching the emulator."""
        data = json.dumps(body) if isinstance(body, dict) else (body or json.dumps({"message": f"injected {status}"}))
        return self._add(Rule(method, path, "fail", times, status=status, headers=dict(headers or {}),
                              body=data.encode(), contains=contains))

    def reset(self, method: str, path: str, *, times: int = 1, contains: str = "") -> Rule:
        """The next `times` matching requests get a 200 status line and half a body, then the socket closes."""
        return self._add(Rule(method, path, "reset", times, contains=contains))

    def hold(self, method: str, path: str, *, times: int = 1, contains: str = "") -> Rule:
        """The next `times` matching requests wait until `rule.release()` (at most HOLD_LIMIT s), then go on
        to the emulator, or are answered 502 without reaching it after `rule.release(deliver=False)`."""
        return self._add(Rule(method, path, "hold", times, contains=contains))

    def delay(self, method: str, path: str, seconds: float, *, times: int = 1, contains: str = "") -> Rule:
        return self._add(Rule(method, path, "delay", times, seconds=seconds, contains=contains))

    def release_all(self) -> None:
        with self.lock:
            for rule in self.rules:
                rule.release()

    def _add(self, rule: Rule) -> Rule:
        with self.lock:
            self.rules.append(rule)
        return rule

    def _take(self, environ) -> Rule | None:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        with self.lock:
            candidates = [rule for rule in self.rules if rule.matches(method, path)]
        if not candidates:
            return None  # the body is left unread: git's chunked uploads must reach the emulator untouched
        body = _read_body(environ) if any(rule.contains for rule in candidates) else b""
        with self.lock:
            for rule in candidates:
                if rule.matches(method, path) and (not rule.contains or rule.contains.encode() in body):
                    rule.hits += 1
                    rule.entered.set()
                    return rule
        return None

    def __call__(self, environ, start_response):
        rule = self._take(environ)
        if rule is None:
            return self.app(environ, start_response)
        if rule.action == "fail":
            headers = {"Content-Type": "application/json", **rule.headers}
            start_response(f"{rule.status} Injected", list(headers.items()))
            return [rule.body]
        if rule.action == "reset":
            return _half_then_close(environ, start_response)
        if rule.action == "hold":
            rule.released.wait(HOLD_LIMIT)
            if not rule.deliver:
                start_response("502 Held And Dropped", [("Content-Type", "application/json")])
                return [b'{"message": "fault injection: the held request was dropped"}']
        else:
            time.sleep(rule.seconds)
        return self.app(environ, start_response)


def _read_body(environ) -> bytes:
    """Reads the body once and puts it back, so rules can look into it and the emulator still gets it."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        body = environ["wsgi.input"].read(length)
    elif environ.get("wsgi.input_terminated"):  # chunked: werkzeug ends the stream for us
        body = environ["wsgi.input"].read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _half_then_close(environ, start_response):
    """Sends the status line, headers and part of the promised body, then shuts the socket down."""
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "4096")])
    sock = environ.get("werkzeug.socket")

    def body():
        yield b'{"id": "chatcmpl-cut", "object": "chat.completion", "choices": [{"message": {"content": "hal'
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
        raise ConnectionResetError("fault injection: connection dropped mid-response")

    return body()
