"""Schema versions: old records stay readable, `codexbot migrate` brings them up, newer data is refused."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from cli.main import main
from jobs.records.runs import ALL_RUNS, load_run, run_key
from jobs.records.schema import LOCK_KEY, SCHEMA_KEY, SCHEMA_VERSION, SchemaError, check_readable, migrate, stored_version
from tests.stack import ROOT


def write_v1_run(conn, run_id: str, forge: str = "github") -> None:
    """A run record as releases before schema versions wrote it: no `forge` or `schema` field."""
    conn.hset(run_key(run_id), mapping={
        "status": "succeeded", "repo": "octo/calc", "number": "7", "requester": "alice", "created_at": "1700000000.0",
        "trigger": json.dumps({"forge": forge, "event": "issue_comment", "command": "task"})})
    conn.zadd(ALL_RUNS, {run_id: 1700000000.0})


def test_records_from_before_versions_are_version_1_and_still_readable(redis_conn):
    write_v1_run(redis_conn, "a" * 16)
    assert stored_version(redis_conn) == 1
    assert check_readable(redis_conn) == 1  # a worker of this release starts and reads it
    run = load_run(redis_conn, "a" * 16)
    assert (run.status, run.repo, run.trigger["forge"]) == ("succeeded", "octo/calc", "github")


def test_migrate_stamps_every_record_and_is_safe_to_run_again(redis_conn):
    for i, forge in enumerate(["github", "gitlab", "github"]):
        write_v1_run(redis_conn, f"{i:016x}", forge)
    redis_conn.zadd(ALL_RUNS, {"f" * 16: 1.0})  # its record expired: nothing to migrate, no error
    report = migrate(redis_conn)
    assert (report.from_version, report.to_version, report.changed) == (1, SCHEMA_VERSION, {2: 3})
    assert redis_conn.hmget(run_key(f"{1:016x}"), "forge", "schema") == [b"gitlab", str(SCHEMA_VERSION).encode()]
    assert int(redis_conn.get(SCHEMA_KEY)) == SCHEMA_VERSION
    assert not redis_conn.exists(run_key("f" * 16))
    again = migrate(redis_conn)
    assert again.changed == {} and again.lines() == [f"the data is already at schema version {SCHEMA_VERSION}: nothing to do"]


def test_dry_run_counts_and_changes_nothing(redis_conn):
    write_v1_run(redis_conn, "b" * 16)
    report = migrate(redis_conn, dry_run=True)
    assert report.changed == {2: 1}
    assert redis_conn.hget(run_key("b" * 16), "schema") is None and redis_conn.get(SCHEMA_KEY) is None


def test_a_fresh_redis_is_stamped_with_the_current_version(redis_conn):
    assert check_readable(redis_conn) == SCHEMA_VERSION
    assert int(redis_conn.get(SCHEMA_KEY)) == SCHEMA_VERSION


def test_data_of_a_newer_release_is_refused_with_the_fix(redis_conn):
    redis_conn.set(SCHEMA_KEY, SCHEMA_VERSION + 1)
    with pytest.raises(SchemaError, match="written by a newer codexbot.*upgrade it"):
        check_readable(redis_conn)
    with pytest.raises(SchemaError, match="newer codexbot"):
        migrate(redis_conn)


def test_two_migrations_at_once_are_refused(redis_conn):
    write_v1_run(redis_conn, "c" * 16)
    redis_conn.set(LOCK_KEY, "1")
    with pytest.raises(SchemaError, match="another `codexbot migrate` is running"):
        migrate(redis_conn)
    assert redis_conn.hget(run_key("c" * 16), "schema") is None


def test_migrate_command_reports_what_it_did(redis_server, redis_conn):
    write_v1_run(redis_conn, "d" * 16)
    env = {"CODEXBOT_REDIS_URL": redis_server.url}
    dry = CliRunner().invoke(main, ["migrate", "--dry-run"], env=env)
    assert dry.exit_code == 0 and "dry run: schema version 1 -> 2" in dry.output, dry.output
    done = CliRunner().invoke(main, ["migrate"], env=env)
    assert done.exit_code == 0 and "1 records" in done.output, done.output
    assert redis_conn.hget(run_key("d" * 16), "schema") == str(SCHEMA_VERSION).encode()


def test_a_worker_will_not_start_on_newer_data(redis_server, redis_conn, tmp_path):
    redis_conn.set(SCHEMA_KEY, SCHEMA_VERSION + 5)
    env = {"PATH": "/usr/bin:/bin", "CODEXBOT_REDIS_URL": redis_server.url, "CODEXBOT_DATA_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "cli", "worker", "--burst"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert f"schema version {SCHEMA_VERSION + 5}" in proc.stderr and "Traceback" not in proc.stderr


def test_check_says_when_to_migrate_and_refuses_newer_data(settings, redis_conn):
    from jobs.host.self_check import run_checks

    write_v1_run(redis_conn, "e" * 16)
    item = next(c for c in run_checks(settings, offline=True) if c.name == "redis")
    assert item.ok and "run `codexbot migrate`" in item.message
    redis_conn.set(SCHEMA_KEY, SCHEMA_VERSION + 1)
    item = next(c for c in run_checks(settings, offline=True) if c.name == "redis")
    assert not item.ok and "newer codexbot" in item.message


def test_the_web_side_stamps_a_fresh_redis_and_refuses_newer_data(settings, redis_conn):
    from bot import create_app
    from jobs.settings import SettingsError

    create_app(settings)
    assert int(redis_conn.get(SCHEMA_KEY)) == SCHEMA_VERSION
    redis_conn.set(SCHEMA_KEY, SCHEMA_VERSION + 1)
    with pytest.raises(SettingsError, match="newer codexbot"):
        create_app(settings)
