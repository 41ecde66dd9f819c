"""The egress proxy refuses what a fenced phase may never reach, before any traffic leaves: hosts off the
allowlist, names that resolve to loopback, private and metadata addresses. Only 127.0.0.1 is ever contacted:
the allowed upstream is a test server named through the tests-only map."""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest

from jobs.sandbox.allowlist import Allowlist
from jobs.sandbox.egress import EgressProxy


class Index(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802  (http.server's name)
        body = f"index at {self.path}\n".encode()
        if self.path == "/headers":
            body = "".join(f"{k.lower()}: {v}\n" for k, v in self.headers.items()).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def upstream():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(tmp_path, upstream):
    refused: list[tuple[str, str]] = []
    allow = Allowlist(("pypi.test", "localhost", "169.254.169.254", "10.0.0.1", "fd00::1", "ten.test"),
                      test_upstreams={"pypi.test": ("127.0.0.1", upstream)})
    server = EgressProxy(tmp_path / "egress.sock", allow, lambda what, why: refused.append((what, str(why)))).start()
    server.refused = refused
    yield server
    server.close()


def ask(proxy, request: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(proxy.server_address)
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
        return answer


@pytest.mark.parametrize("target, reason", [
    ("example.org:443", "example.org is not on the network allowlist"),
    ("localhost:6379", "localhost is this machine's loopback"),
    ("169.254.169.254:80", "169.254.169.254 is a loopback, private, link-local or metadata address"),
    ("8.8.8.8:53", "8.8.8.8 is an address; the network allowlist holds domain names"),
    ("10.0.0.1:5432", "which the sandbox may never reach"),
    ("[fd00::1]:80", "which the sandbox may never reach"),
])
def test_what_a_fenced_phase_may_never_reach_is_refused_and_reported(proxy, target, reason):
    answer = ask(proxy, f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 403") and reason.encode() in answer
    assert proxy.refused and reason in proxy.refused[-1][1]


def test_plain_http_off_the_allowlist_is_refused_too(proxy):
    answer = ask(proxy, b"GET http://evil.example/steal HTTP/1.1\r\nHost: evil.example\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 403") and b"not on the network allowlist" in answer


def test_an_allowed_upstream_answers_through_the_proxy(proxy):
    answer = ask(proxy, b"GET http://pypi.test/simple/ HTTP/1.1\r\nHost: pypi.test\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 200") and answer.endswith(b"index at /simple/\n")
    tunnel = ask(proxy, b"CONNECT pypi.test:443 HTTP/1.1\r\n\r\n"
                        b"GET /simple/x/ HTTP/1.1\r\nHost: pypi.test\r\nConnection: close\r\n\r\n")
    assert tunnel.startswith(b"HTTP/1.1 200 Connection established") and b"index at /simple/x/" in tunnel
    assert proxy.refused == []


def test_a_plain_http_request_gets_its_own_upstream_connection(proxy):
    """A keep-alive client's next request may name another host: it must come back through the check."""
    answer = ask(proxy, b"GET http://pypi.test/headers HTTP/1.1\r\nHost: pypi.test\r\n"
                        b"Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic eDp5\r\n\r\n")
    headers = answer.split(b"\r\n\r\n", 1)[1].decode()
    assert "connection: close" in headers
    assert "proxy-connection" not in headers and "proxy-authorization" not in headers


def test_idle_connections_cannot_take_more_than_the_cap_of_threads(proxy):
    from jobs.sandbox.egress import MAX_CONNECTIONS
    before = threading.active_count()
    idle = []
    try:
        for _ in range(MAX_CONNECTIONS + 40):
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            idle.append(conn)
            try:
                conn.connect(proxy.server_address)
                conn.sendall(b"CONNECT pypi.test:443 HTTP/1.1\r\n")  # and never the end of the head
            except (BrokenPipeError, ConnectionResetError):
                pass  # over the cap the proxy closes a connection at once, sometimes before this one could send
        deadline = time.monotonic() + 5
        while threading.active_count() - before < MAX_CONNECTIONS and time.monotonic() < deadline:
            time.sleep(0.05)
        assert threading.active_count() - before <= MAX_CONNECTIONS + 2
    finally:
        for conn in idle:
            conn.close()


@pytest.mark.parametrize("target", ["x.example:\u00b2", "pypi.test:70000", "pypi.test:0", "[::1]:-1"])
def test_a_malformed_port_is_refused_and_the_proxy_goes_on(proxy, target):
    answer = ask(proxy, f"CONNECT {target} HTTP/1.1\r\n\r\n".encode("latin-1", "replace"))
    assert answer.startswith(b"HTTP/1.1 403")
    assert ask(proxy, b"GET http://pypi.test/simple/ HTTP/1.1\r\nHost: pypi.test\r\n\r\n").startswith(b"HTTP/1.0 200")


@pytest.mark.parametrize("address", ["64:ff9b::a00:1", "2002:a00:1::1", "::ffff:127.0.0.1", "2001:0:a00:1::1"])
def test_an_ipv6_address_that_embeds_an_ipv4_one_is_never_reached(address):
    from jobs.sandbox.egress import Refused, destination
    with pytest.raises(Refused, match="loopback, private, link-local or metadata"):
        destination(Allowlist(("x.example",)), address, 80)
