"""The run history for /runs: newest first, filtered, a page at a time, never all runs at once."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import redis

from jobs.records.runs import ALL_RUNS, STATUSES, Run, load_runs

SCAN_LIMIT = 2000  # run ids looked at per request, at most
CHART_DAYS = 14
BATCH = 200  # run records fetched per round trip


@dataclass(frozen=True)
class Filters:
    repo: str = ""
    status: str = ""
    requester: str = ""

    def match(self, run: Run) -> bool:
        return ((not self.repo or run.repo == self.repo) and (not self.status or run.status == self.status)
                and (not self.requester or run.requester.lower() == self.requester.lower()))


@dataclass
class Page:
    runs: list[Run]
    older: float | None  # pass as `before` for the next page; None when this is the last
    scanned: int


@dataclass
class Summary:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    days: list[dict] = field(default_factory=list)  # {"day", "runs", "median_seconds"}, oldest first


def _scan(conn: redis.Redis, high: float | str, low: float | str, limit: int):
    """Run records created in (low, high), newest first, at most `limit` looked at."""
    ids = [raw.decode() for raw in conn.zrevrangebyscore(ALL_RUNS, high, low, start=0, num=limit)]
    for start in range(0, len(ids), BATCH):
        yield from load_runs(conn, ids[start:start + BATCH])


def find_runs(conn: redis.Redis, filters: Filters, visible: Callable[[Run], bool], *, before: float | None = None,
              per_page: int = 50, scan_limit: int = SCAN_LIMIT) -> Page:
    """One page of the runs the viewer may see that match the filters, created before `before`."""
    high = f"({before!r}" if before is not None else "+inf"
    shown, scanned, last = [], 0, None
    for run in _scan(conn, high, "-inf", scan_limit):
        scanned += 1
        last = run.created_at
        if filters.match(run) and visible(run):
            shown.append(run)
            if len(shown) == per_page:
                return Page(shown, run.created_at, scanned)
    more = scanned == scan_limit and last is not None
    return Page(shown, last if more else None, scanned)


def summarize(conn: redis.Redis, filters: Filters, visible: Callable[[Run], bool], now: float | None = None,
              days: int = CHART_DAYS) -> Summary:
    """Counts per status and runs per day with their median duration, over the last `days` days."""
    now = time.time() if now is None else now
    today = int(now // 86_400)
    summary = Summary()
    per_day: dict[int, list[float]] = {today - n: [] for n in range(days - 1, -1, -1)}
    started: dict[int, int] = dict.fromkeys(per_day, 0)
    for run in _scan(conn, "+inf", (today - days + 1) * 86_400, SCAN_LIMIT):
        if not (filters.match(run) and visible(run)):
            continue
        summary.counts[run.status] = summary.counts.get(run.status, 0) + 1
        day = int(run.created_at // 86_400)
        if day in started:
            started[day] += 1
            if run.finished_at and run.started_at:
                per_day[day].append(run.finished_at - run.started_at)
    summary.days = [{"day": time.strftime("%m-%d", time.gmtime(day * 86_400)), "runs": started[day],
                     "median_seconds": _median(per_day[day])} for day in per_day]
    return summary


def _median(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
