"""The worker's side of the fence abuse tests, run by tests/test_abuse_network_fence.py inside a network and mount
namespace the test creates (`unshare --net --mount`), so that nothing it does can touch a real address.

In there it plays a cloud VM: services on the host's 127.0.0.1, on a private address (10.203.0.1), and a
metadata service on 169.254.169.254, each answering a secret; names in /etc/hosts that point at them; and a
package index named pypi.test. Then it runs the attacks as setup commands of a hostile repository (whose
`.codexbot.toml` allows those names), once fenced and once without the fence, and prints what each reached
as JSON on stdout."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from jobs.repo.config import parse_repo_config
from jobs.run.wiring import make_sandbox, network_policy
from jobs.settings import Settings
from tests.emulators.package_index import PackageIndex

PRIVATE, METADATA = "10.203.0.1", "169.254.169.254"
HOSTS = f"127.0.0.1 localhost sneaky.test\n{PRIVATE} internal.test\n{METADATA} metadata.test\n"
HOSTILE_CONFIG = '[network]\nallow = ["sneaky.test", "internal.test", "metadata.test", "example.org"]\n'


def secret_server(address: str, port: int, secret: str) -> int:
    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802  (http.server's name)
            body = f"{secret}\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((address, port), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def udp_listener(address: str) -> tuple[int, list[bytes]]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 0))
    got: list[bytes] = []

    def receive():
        while True:
            got.append(sock.recvfrom(100)[0])

    threading.Thread(target=receive, daemon=True).start()
    return sock.getsockname()[1], got


def play_a_cloud_vm() -> None:
    # the namespace's own loopback device holds the VM's addresses (no dummy device needed)
    for command in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", f"{PRIVATE}/32", "dev", "lo"],
                    ["ip", "addr", "add", f"{METADATA}/32", "dev", "lo"]):
        subprocess.run(command, check=True)
    hosts = Path(tempfile.mkdtemp()) / "hosts"
    hosts.write_text(HOSTS)
    subprocess.run(["mount", "--bind", str(hosts), "/etc/hosts"], check=True)


def main() -> None:
    play_a_cloud_vm()
    loopback = secret_server("127.0.0.1", 0, "SECRET-LOOPBACK")
    private = secret_server(PRIVATE, 0, "SECRET-PRIVATE")
    secret_server(METADATA, 80, "SECRET-METADATA")
    udp_port, datagrams = udp_listener(PRIVATE)
    attacks = {
        "loopback direct": f"curl -sS --noproxy '*' -m 3 http://127.0.0.1:{loopback}/",
        "loopback through the proxy": f"curl -sS -m 3 http://127.0.0.1:{loopback}/",
        "private address direct": f"curl -sS --noproxy '*' -m 3 http://{PRIVATE}:{private}/",
        "private address through the proxy": f"curl -sS -m 3 http://{PRIVATE}:{private}/",
        "metadata direct": f"curl -sS --noproxy '*' -m 3 http://{METADATA}/latest/meta-data/",
        "metadata through the proxy": f"curl -sS -m 3 http://{METADATA}/latest/meta-data/",
        "name for the metadata service": "curl -sS -m 3 http://metadata.test/latest/meta-data/",
        "name for loopback": f"curl -sS -m 3 http://sneaky.test:{loopback}/",
        "name for the private address, CONNECT": f"curl -sS -m 3 -p http://internal.test:{private}/",
        "udp datagram": f"python3 -c \"import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
                        f".sendto(b'SECRET-UDP', ('{PRIVATE}', {udp_port}))\"",
        "not allowlisted": "curl -sS -m 3 https://not-allowed.example/",
    }
    config = parse_repo_config(HOSTILE_CONFIG)
    with PackageIndex({"tinypkg": ()}) as index:
        settings = Settings(network_test_upstreams=f"pypi.test=127.0.0.1:{index.port}")
        attacks["pip install from the allowlisted index"] = (
            "python3 -m pip install -q --no-cache-dir --disable-pip-version-check --target /tmp/site "
            "--index-url http://pypi.test/simple/ --trusted-host pypi.test tinypkg && ls /tmp/site")
        report = {}
        for fenced in (True, False):
            refusals: list[str] = []
            sandbox = make_sandbox("bwrap", Path(tempfile.mkdtemp()), on_refused=lambda r: refusals.append(r.line),
                                   fence=network_policy(settings, config) if fenced else None)
            sandbox.start_phase("setup")
            results = {}
            for name, command in attacks.items():
                before = len(datagrams)
                result = sandbox.run(command, timeout=30)
                time.sleep(0.1)  # a datagram, if one got out, has arrived
                results[name] = {"exit": result.exit_code, "output": result.output,
                                 "datagram": len(datagrams) > before}
            sandbox.close()
            report["fenced" if fenced else "unfenced"] = {"results": results, "refusals": refusals}
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
