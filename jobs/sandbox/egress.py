"""The egress fence's proxy: the only way out of a sandbox whose phase has the network on. It listens on a Unix
socket the sandbox can reach, takes HTTP CONNECT (HTTPS) and absolute-form HTTP requests, lets through only
hosts on the allowlist, resolves names itself and never connects to a loopback, private, link-local,
multicast or otherwise non-global address, whatever the allowlist says (a name that resolves to 127.0.0.1 or
to 169.254.169.254, the cloud metadata service, is refused). Every refusal is reported with its reason."""

from __future__ import annotations

import ipaddress
import selectors
import os
import socket
import socketserver
import threading
import time
from pathlib import Path
from typing import Callable

from jobs.sandbox.allowlist import Allowlist

CONNECT_TIMEOUT = 10.0
HEAD_SECONDS = 10.0  # the whole request head must arrive within this (no slow drip holds a thread)
IDLE_TIMEOUT = 300.0
MAX_CONNECTIONS = 64  # at once per sandbox; more are closed at once
# IPv6 prefixes that carry an IPv4 address (NAT64, 6to4, Teredo): they may lead to any IPv4 network
EMBEDDING_V4 = tuple(ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32"))
MAX_HEAD = 16 * 1024
BUFFER = 64 * 1024


class Refused(Exception):
    """The fence refused a destination; the message says why, for the run log. `kind`: "unlisted" (not on the
    allowlist), "unsafe" (an address no setting allows, or a name resolving to one), "address" (an IP address,
    while the allowlist holds names), "unresolved", or "malformed"."""

    def __init__(self, message: str, host: str = "", kind: str = "malformed"):
        super().__init__(message)
        self.host, self.kind = host, kind


def destination(allowlist: Allowlist, host: str, port: int) -> tuple[str, int]:
    """The address to connect to for host:port, or Refused: not on the allowlist, or not a global address."""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and not _reachable(literal):
        raise Refused(f"{host} is a loopback, private, link-local or metadata address, which the sandbox may "
                      "never reach", host, "unsafe")
    if literal is not None:
        raise Refused(f"{host} is an address; the network allowlist holds domain names", host, "address")
    if host.lower().rstrip(".") == "localhost" or host.lower().rstrip(".").endswith(".localhost"):
        raise Refused(f"{host} is this machine's loopback, which the sandbox may never reach", host, "unsafe")
    if not allowlist.allows(host):
        raise Refused(f"{host} is not on the network allowlist", host, "unlisted")
    if host.lower() in allowlist.test_upstreams:
        return allowlist.test_upstreams[host.lower()]
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise Refused(f"{host} does not resolve ({error})", host, "unresolved") from None
    addresses = [info[4][0] for info in found]
    for address in addresses:
        if not _reachable(ipaddress.ip_address(address.split("%")[0])):
            raise Refused(f"{host} resolves to {address}, which the sandbox may never reach "
                          "(loopback, private, link-local or metadata addresses)", host, "unsafe")
    return addresses[0], port


def _reachable(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A global unicast address that embeds no IPv4 one (an IPv4-mapped address is judged as the IPv4 one)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return _reachable(ip.ipv4_mapped)
        if any(ip in network for network in EMBEDDING_V4):
            return False
    return ip.is_global and not ip.is_multicast


class _Handler(socketserver.StreamRequestHandler):
    server: EgressProxy

    def handle(self) -> None:
        try:
            self._handle()
        except Exception:  # noqa: BLE001  (whatever the sandbox sends: the connection ends, the proxy stays)
            return
        finally:
            self.server.slots.release()

    def _handle(self) -> None:
        self.connection.settimeout(HEAD_SECONDS)
        read = self._read_head()
        if read is None:
            return
        head, early = read  # early: what the client sent after the head without waiting (a TLS hello)
        request_line, _, rest = head.partition(b"\r\n")
        parts = request_line.decode("latin-1").split()
        if len(parts) != 3:
            return self._answer(400, "not an HTTP request")
        method, target, version = parts
        try:
            host, port, forward = _target(method, target, version, rest)
            address = destination(self.server.allowlist, host, port)
        except Refused as error:
            self.server.on_refused(f"{method} {target}", error)
            return self._answer(403, str(error))
        try:
            upstream = socket.create_connection(address, timeout=CONNECT_TIMEOUT)
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a relay: no Nagle wait per write
        except OSError as error:
            return self._answer(502, f"{host}:{port} did not answer ({error.strerror or error})")
        with upstream:
            upstream.settimeout(IDLE_TIMEOUT)
            self.connection.settimeout(IDLE_TIMEOUT)
            if forward is None:
                self.connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            upstream.sendall((forward or b"") + early)
            _relay(self.connection, upstream)

    def _read_head(self) -> tuple[bytes, bytes] | None:
        data, deadline = b"", time.monotonic() + HEAD_SECONDS
        while b"\r\n\r\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.connection.settimeout(left)
            chunk = self.connection.recv(4096)
            if not chunk or len(data) > MAX_HEAD:
                return None
            data += chunk
        end = data.index(b"\r\n\r\n") + 4
        return data[:end], data[end:]

    def _answer(self, status: int, reason: str) -> None:
        body = (reason + "\n").encode()
        self.connection.sendall(f"HTTP/1.1 {status} {'Forbidden' if status == 403 else 'Error'}\r\n"
                                f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
                                "Connection: close\r\n\r\n".encode() + body)


def _target(method: str, target: str, version: str, rest: bytes) -> tuple[str, int, bytes | None]:
    """Host, port and (for plain HTTP) the request to send on in origin form; None for a CONNECT tunnel."""
    if method == "CONNECT":
        host, _, port = target.rpartition(":")
        if not host or not _port(port):
            raise Refused(f"CONNECT {target[:200]!r} names no host:port")
        return host.strip("[]"), int(port), None
    if not target.startswith("http://"):
        raise Refused("only CONNECT and absolute http:// requests go through the fence")
    authority, _, path = target[len("http://"):].partition("/")
    host, _, port = authority.rpartition(":") if ":" in authority else (authority, "", "80")
    if not host or not _port(port):
        raise Refused(f"{target[:200]!r} names no host and port")
    return host, int(port), f"{method} /{path} {version}\r\n".encode() + _one_request(rest)


def _port(text: str) -> bool:
    return text.isascii() and text.isdecimal() and 0 < int(text) < 65536


_HOP_BY_HOP = (b"connection", b"proxy-connection", b"keep-alive", b"proxy-authorization")


def _one_request(head: bytes) -> bytes:
    """The headers with `Connection: close`: the upstream connection serves this one request, so a client that
    keeps its proxy connection alive opens a new one (checked anew) for its next request, to whatever host."""
    lines = [line for line in head.split(b"\r\n") if line and line.split(b":", 1)[0].strip().lower() not in _HOP_BY_HOP]
    return b"\r\n".join([*lines, b"Connection: close", b"", b""])


def _relay(a: socket.socket, b: socket.socket) -> None:
    """Copy both ways in this one thread until either side closes or both stay silent for IDLE_TIMEOUT."""
    peers = {a: b, b: a}
    with selectors.DefaultSelector() as selector:
        for end in peers:
            selector.register(end, selectors.EVENT_READ)
        while True:
            ready = selector.select(IDLE_TIMEOUT)
            if not ready:
                return
            for key, _ in ready:
                try:
                    chunk = key.fileobj.recv(BUFFER)
                    if not chunk:
                        return
                    peers[key.fileobj].sendall(chunk)
                except OSError:
                    return


class EgressProxy(socketserver.ThreadingUnixStreamServer):
    """One proxy per fenced sandbox, on a Unix socket in a folder only that sandbox sees."""

    daemon_threads = True

    def __init__(self, path: Path, allowlist: Allowlist, on_refused: Callable[[str, Refused], None]):
        self.allowlist, self.on_refused = allowlist, on_refused
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(str(path), _Handler)
        os.chmod(path, 0o666)  # the sandbox's uid connects
        self.thread = threading.Thread(target=self.serve_forever, name="egress-proxy", daemon=True)

    def process_request(self, request, client_address) -> None:
        """A thread per connection, up to MAX_CONNECTIONS at once; beyond, the connection is closed unread."""
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def start(self) -> EgressProxy:
        self.thread.start()
        return self

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        Path(self.server_address).unlink(missing_ok=True)
