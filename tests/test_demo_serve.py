"""`make demo` in a terminal: after the flow the services stay up to be looked at, lines typed become comments
on the forge, and Ctrl-C stops every process the demo started; without a terminal it exits as before."""

from __future__ import annotations

import http.cookiejar
import json
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.error import HTTPError

import pytest

ROOT = Path(__file__).resolve().parent.parent
FLOW_SECONDS = 300  # the whole flow, on a busy 2-core machine
REPLY_SECONDS = 120
STOP_SECONDS = 90
CLEAN_STOP_SECONDS = 15  # a worker that does not stop within 20 s is killed: a clean stop takes about 1 s
HTTP_SECONDS = 30


def _env() -> dict[str, str]:
    """The caller's environment without model keys or settings: the demo must use its recorded script."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("CODEXBOT_", "OPENAI_")) and k != "FORGE"}


class Terminal:
    """The demo as the session leader on a pseudo-terminal, as `make demo` typed in a shell: ^C is SIGINT."""

    def __init__(self, *args: str):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: nothing but exec, it shares the test's threads' locks
            try:
                os.chdir(ROOT)
                os.execve(sys.executable, [sys.executable, "demo.py", *args], _env())
            finally:
                os._exit(127)
        self.output, self.lock, self.status = bytearray(), threading.Lock(), None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:  # EIO once the demo and everything holding the terminal are gone
                return
            if not data:
                return
            with self.lock:
                self.output += data

    def text(self) -> str:
        with self.lock:
            return self.output.decode("utf-8", "replace").replace("\r\n", "\n")

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.text())
            if match:
                return match
            if self.exited():
                break
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} within {timeout} s; the demo printed:\n{self.text()[-4000:]}")

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def exited(self) -> bool:
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
        return self.status is not None

    def wait_exit(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.exited():
            time.sleep(0.1)
        assert self.exited(), f"the demo still runs {timeout} s after Ctrl-C:\n{self.text()[-3000:]}"
        return self.status


def _stat(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, state, start time) from /proc, or None once the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw.rsplit(")", 1)[1].split()
    return int(fields[1]), fields[0], fields[19]


def descendants(root: int) -> dict[int, str]:
    """Every living process below root: pid -> start time (so a reused pid is not taken for a survivor)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            parents[int(entry)] = stat
    found, frontier = {}, [root]
    for _ in range(10_000):
        if not frontier:
            break
        parent = frontier.pop()
        for pid, (ppid, _, start) in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = start
                frontier.append(pid)
    return found


def alive(processes: dict[int, str]) -> list[str]:
    left = []
    for pid, start in processes.items():
        stat = _stat(pid)
        if stat is not None and stat[2] == start and stat[1] != "Z":
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            left.append(f"{pid}: {command[:200]}")
    return left


def fetch(url: str, headers: dict[str, str] | None = None, data: bytes | None = None) -> tuple[int, bytes]:
    assert url.startswith("http://127.0.0.1:"), url
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_SECONDS) as answer:
            return answer.status, answer.read()
    except HTTPError as error:
        return error.code, error.read()


def header(text: str) -> dict[str, str]:
    name, _, value = text.partition(": ")
    return {name: value}


def check_forge_api(term: Terminal, forge: str) -> None:
    """The request and its diff answer through the forge API links the demo printed."""
    kind = "merge request" if forge == "gitlab" else "pull request"
    found = term.wait_for(rf"The {kind} as {forge}'s API returns it:  curl -H '([^']+)' (\S+)", 5)
    status, body = fetch(found[2], header(found[1]))
    assert status == 200 and json.loads(body)["state"] == ("opened" if forge == "gitlab" else "open"), body[:300]
    diff = term.wait_for(r"Its diff:  curl -H '([^']+)' (?:-H '([^']+)' )?(\S+)", 5)
    status, body = fetch(diff[3], {**header(diff[1]), **(header(diff[2]) if diff[2] else {})})
    assert status == 200 and "+    return a + b" in body.decode().replace("\\n", "\n"), body[:500]


def check_runs_page(term: Terminal, run_id: str) -> None:
    """The printed /runs link signs in through the emulated forge's OAuth and lands on the list of runs."""
    link = term.wait_for(r"All runs:\s+(http://127\.0\.0\.1:\d+/signin/\w+\?next=/runs)", 5)[1]
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(link, timeout=HTTP_SECONDS) as answer:
        assert answer.status == 200 and answer.url.endswith("/runs"), answer.url
        assert run_id[:8] in answer.read().decode()


def check_json_api(term: Terminal) -> None:
    """A run delegated with the printed token and body shows as JSON under /api/runs/<id>."""
    found = term.wait_for(r"delegate: curl -H '([^']+)' -H '([^']+)' -d '([^']+)' (\S+)", 5)
    status, body = fetch(found[4], {**header(found[1]), **header(found[2])}, found[3].encode())
    assert status == 202, body[:300]
    run_id = json.loads(body)["id"]
    status, body = fetch(f"{found[4]}/{run_id}", header(found[1]))
    assert status == 200 and json.loads(body)["id"] == run_id, body[:300]


def check_status_reply(term: Terminal, mark: str, first_run: str) -> None:
    """A typed `/codex status` becomes alice's comment, and the bot's reply lists the first run as succeeded."""
    term.type("/codex status\r")
    reply = term.wait_for(rf"\n(\S+) commented on octo/calc{mark}\d+:\n(?:    \|.*\n)*?"
                          rf"    \|.*`{first_run[:8]}` \*\*succeeded", REPLY_SECONDS)
    assert reply[1] != "alice", reply[0]  # the bot's reply, not the typed comment


@pytest.mark.parametrize(("forge", "options"), [("github", ()), ("gitlab", ("--pr",))])
def test_the_demo_in_a_terminal_serves_until_ctrl_c_and_leaves_no_process(forge, options):
    """Typed comments go on the issue, or with --pr on the merge request the run opened."""
    term, seen = Terminal("--forge", forge, *options), {}
    try:
        term.wait_for("Press Ctrl-C to stop", FLOW_SECONDS)
        first_run = term.wait_for(r"\nRun ([0-9a-f]{16}): succeeded", 1)[1]
        seen.update(descendants(term.pid))
        names = " ".join(alive(seen))
        assert "redis-server" in names and "cli worker" in names, names
        link = term.wait_for(r"Run page:\s+(http://127\.0\.0\.1:\d+/runs/[0-9a-f]{16}\?\S+)", 1)[1]
        status, page = fetch(link)
        assert status == 200 and first_run.encode() in page
        check_forge_api(term, forge)
        check_runs_page(term, first_run)
        check_json_api(term)
        check_status_reply(term, "!" if options else "#", first_run)
        seen.update(descendants(term.pid))
        started = time.monotonic()
        term.type("\x03")
        assert term.wait_exit(STOP_SECONDS) == 0, term.text()[-3000:]
        assert time.monotonic() - started < CLEAN_STOP_SECONDS, "the worker was killed, not stopped"
        assert "Stopping Redis, the web server, the worker" in term.text()
        assert alive(seen) == [], alive(seen)
        with pytest.raises(ProcessLookupError):
            os.killpg(term.pid, 0)  # nothing is left in the demo's process group either
    finally:
        if not term.exited():
            os.killpg(term.pid, signal.SIGKILL)
            term.wait_exit(STOP_SECONDS)
        for pid, start in seen.items():
            if alive({pid: start}):
                os.kill(pid, signal.SIGKILL)
        os.close(term.fd)


def test_the_demo_without_a_terminal_exits_after_the_flow():
    proc = subprocess.run([sys.executable, "demo.py", "--forge", "github"], cwd=ROOT, env=_env(),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=FLOW_SECONDS, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Run page: http://127.0.0.1:" in proc.stdout
    assert "Press Ctrl-C" not in proc.stdout and "Open now" not in proc.stdout
