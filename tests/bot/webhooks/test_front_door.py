"""The webhook front door in a real `codexbot serve`: bodies sent in chunks (no Content-Length) are read whole,
and one that runs past MAX_WEBHOOK_BYTES is refused with 413 rather than read on."""

import json
import socket
import uuid

from jobs.settings import MAX_WEBHOOK_BYTES
from tests.cli.test_serve import server  # noqa: F401  (fixture: `codexbot serve` on a free port)
from tests.payloads import github_headers, load_corpus


def post_chunked(base: str, headers: dict[str, str], chunks) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        conn.sendall(f"POST /webhooks/github HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n"
                     f"Connection: close\r\n{head}\r\n".encode())
        try:
            for chunk in chunks:
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the rest was sent
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_a_chunked_delivery_is_read_whole_and_accepted(server):  # noqa: F811
    base, _ = server
    payload = load_corpus("github", "issue_comment", "created.with-installation.json")
    payload["comment"]["body"] = "/codex fix the failing test"
    body = json.dumps(payload).encode()
    answer = post_chunked(base, github_headers(body, "issue_comment", str(uuid.uuid4())),
                          [body[i:i + 1000] for i in range(0, len(body), 1000)])
    assert answer.startswith(b"HTTP/1.1 202"), answer[:300]


def test_a_chunked_delivery_past_the_limit_is_413(server):  # noqa: F811
    base, _ = server
    block = b" " * (1024 * 1024)
    answer = post_chunked(base, github_headers(b"{}", "issue_comment", str(uuid.uuid4())),
                          (block for _ in range(MAX_WEBHOOK_BYTES // len(block) + 2)))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
