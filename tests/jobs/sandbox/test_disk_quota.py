"""The run's disk quota: the workspace is measured after every command without following links, and a run
whose workspace passes SandboxLimits.disk_mb stops with one sentence naming it; nothing more runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobs.run.wiring import make_sandbox
from jobs.sandbox import DiskQuotaExceeded, SandboxLimits
from jobs.sandbox.disk import measure_disk
from tests.jobs.sandbox.test_sandbox import needs_bwrap

MB = 1 << 20


@pytest.fixture
def workspace(tmp_path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


def test_links_holes_and_hard_links_do_not_inflate_the_measure(workspace, tmp_path):
    outside = tmp_path / "outside.bin"
    outside.write_bytes(os.urandom(3 * MB))
    (workspace / "to-outside").symlink_to(outside)
    (workspace / "to-root").symlink_to("/")
    with open(workspace / "sparse", "wb") as sparse:
        sparse.truncate(10_000 * MB)
    (workspace / "real").write_bytes(os.urandom(MB))
    os.link(workspace / "real", workspace / "again")
    use = measure_disk(workspace, 1024 * MB)
    assert not use.over and MB <= use.bytes < 2 * MB


def test_the_walk_stops_at_the_first_byte_past_the_cap(workspace):
    for n in range(50):
        (workspace / f"f{n}").write_bytes(os.urandom(MB // 4))
    use = measure_disk(workspace, 2 * MB)
    assert use.over == "bytes" and use.entries < 20
    assert measure_disk(workspace, 100 * MB, max_entries=10).over == "entries"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every directory")
def test_a_directory_the_worker_cannot_read_counts_as_over(workspace):
    hidden = workspace / "hidden"
    hidden.mkdir()
    (hidden / "junk").write_bytes(b"x" * MB)
    hidden.chmod(0)
    try:
        assert measure_disk(workspace, 1024 * MB).over == "unreadable"
    finally:
        hidden.chmod(0o755)


@pytest.mark.parametrize("kind", [pytest.param("bwrap", marks=needs_bwrap), "subprocess"])
def test_a_command_that_fills_the_workspace_stops_the_run_with_the_setting_named(workspace, kind):
    sandbox = make_sandbox(kind, workspace, limits=SandboxLimits(disk_mb=8))
    try:
        assert sandbox.run("head -c 4000000 /dev/zero > half && echo fine").output.strip() == "fine"
        with pytest.raises(DiskQuotaExceeded, match=r"workspace held more than 8 MB of disk, over the run's disk "
                                                    r"quota of 8 MB \(CODEXBOT_DISK_MB\)"):
            sandbox.run("head -c 12000000 /dev/zero > junk")
        with pytest.raises(DiskQuotaExceeded):  # no further command, even one that would free the space
            sandbox.run("rm junk")
        assert (workspace / "junk").exists()
    finally:
        sandbox.close()
