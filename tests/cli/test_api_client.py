"""The terminal's API client reads Retry-After, so `codexbot logs -f` waits as the server asks when it is over
its cap of long-polls instead of asking again at once until the rate limit ends it."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from cli.api_client import ApiClient


@pytest.fixture
def server():
    answers = []

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802  (http.server's name)
            retry = answers.pop(0)
            body = json.dumps({"lines": [], "next": 0}).encode()
            self.send_response(200)
            if retry is not None:
                self.send_header("Retry-After", retry)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    httpd.answers = answers
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("header, seconds", [("2", 2.0), (None, 0.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 60.0),
                                             ("9999", 60.0), ("-3", 0.0)])
def test_retry_after_is_read_and_bounded(server, header, seconds):
    server.answers.append(header)
    api = ApiClient(f"http://127.0.0.1:{server.server_address[1]}", "token")
    assert api.call("GET", "/api/runs/x/log") == {"lines": [], "next": 0}
    assert api.retry_after == seconds
