"""The version of the data codexbot keeps in Redis, and the steps that bring older data up to it.

Redis holds `codexbot:schema`, the version every record in it is written in. Data from before versions
existed (run records, no version key) is version 1. A release reads records of every older version it
knows, so web and workers keep working through an upgrade; `codexbot migrate` then rewrites the old
records in batches and sets the new version. A process refuses to start on data of a newer version than
it knows, rather than misreading it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

import redis

from jobs.records.runs import ALL_RUNS, SCHEMA_VERSION, run_key

SCHEMA_KEY = "codexbot:schema"
LOCK_KEY = "codexbot:schema:migrating"
BATCH = 500


class SchemaError(RuntimeError):
    """The data cannot be used by this release; the message says what to do."""


def stored_version(conn: redis.Redis) -> int:
    """The version of the data in this Redis: the key, else 1 when there are records from before it, else current."""
    raw = conn.get(SCHEMA_KEY)
    if raw is not None:
        try:
            return int(raw)
        except ValueError:
            raise SchemaError(f"{SCHEMA_KEY} in Redis holds {raw[:40]!r}, not a version number: "
                              "set it to the version the data was written in") from None
    return 1 if conn.exists(ALL_RUNS) else SCHEMA_VERSION


def check_readable(conn: redis.Redis) -> int:
    """For processes starting: refuse newer data, stamp a fresh Redis; returns the stored version."""
    version = stored_version(conn)
    if version > SCHEMA_VERSION:
        raise SchemaError(f"the data in Redis is schema version {version}, written by a newer codexbot; this "
                          f"release reads up to version {SCHEMA_VERSION}: upgrade it, or point it at another Redis")
    if version == SCHEMA_VERSION:
        conn.set(SCHEMA_KEY, SCHEMA_VERSION, nx=True)
    return version


@dataclass(frozen=True)
class Step:
    version: int  # the version the data has after this step
    about: str
    apply: Callable[[redis.Redis, str], bool]  # one run id; True when the record was changed


def stamp_forge(conn: redis.Redis, run_id: str) -> bool:
    """Version 2 keeps the forge and the schema version as fields of their own in every run record."""
    key = run_key(run_id)
    forge, trigger, schema = conn.hmget(key, "forge", "trigger", "schema")
    if schema is not None and forge is not None:
        return False
    if trigger is None:  # an expired or half-deleted record: nothing to bring up to date
        return False
    try:
        name = json.loads(trigger).get("forge", "")
    except (ValueError, AttributeError):
        name = ""
    conn.hset(key, mapping={"forge": forge.decode() if forge else name, "schema": str(SCHEMA_VERSION)})
    return True


STEPS = (Step(2, "run records get their forge and schema version as fields of their own", stamp_forge),)


@dataclass
class Report:
    from_version: int
    to_version: int
    changed: dict[int, int]  # step version -> records changed

    def lines(self) -> list[str]:
        if self.from_version == self.to_version:
            return [f"the data is already at schema version {self.to_version}: nothing to do"]
        out = [f"schema version {self.from_version} -> {self.to_version}"]
        for step in STEPS:
            if step.version in self.changed:
                out.append(f"  {step.version}: {step.about}: {self.changed[step.version]} records")
        return out


def migrate(conn: redis.Redis, *, dry_run: bool = False) -> Report:
    """Bring every record up to SCHEMA_VERSION, step by step; safe to run again after an interruption."""
    start = stored_version(conn)
    if start > SCHEMA_VERSION:
        check_readable(conn)  # raises with the explanation
    if not conn.set(LOCK_KEY, "1", nx=True, ex=3600):
        raise SchemaError(f"another `codexbot migrate` is running (the lock {LOCK_KEY} is held); wait for it, "
                          "or delete the key if that run died")
    try:
        changed: dict[int, int] = {}
        for step in STEPS:
            if step.version <= start:
                continue
            changed[step.version] = _apply(conn, step, dry_run)
            if not dry_run:
                conn.set(SCHEMA_KEY, step.version)
        return Report(start, max([start, *changed]), changed)
    finally:
        conn.delete(LOCK_KEY)


def _apply(conn: redis.Redis, step: Step, dry_run: bool) -> int:
    count = 0
    for offset in range(0, conn.zcard(ALL_RUNS), BATCH):
        for raw in conn.zrange(ALL_RUNS, offset, offset + BATCH - 1):
            run_id = raw.decode()
            if dry_run:
                count += conn.hget(run_key(run_id), "schema") is None
            else:
                count += step.apply(conn, run_id)
    return count
