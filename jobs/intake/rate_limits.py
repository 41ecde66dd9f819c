"""Runs per hour per repository and per requester: the limits, their Redis keys, and the polite answer."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from jobs.settings import Settings
from jobs.types import Trigger

WINDOW_SECONDS = 3600
COUNTED_KINDS = ("task", "retry", "review", "fix-ci")  # what starts an agent; help, status and cancel always answer


@dataclass(frozen=True)
class RateLimits:
    """At most `per_repo` runs of one repository and `per_user` runs of one requester in any hour (0: none)."""

    per_repo: int = 0
    per_user: int = 0
    window: int = WINDOW_SECONDS

    @classmethod
    def from_settings(cls, s: Settings) -> "RateLimits":
        return cls(per_repo=s.rate_limit_repo, per_user=s.rate_limit_user)

    def applies_to(self, trigger: Trigger) -> bool:
        # an event (a pull request opened, CI finished) is no one's request: most end without an agent, and the
        # repository's own `[review] auto` and `[ci] fix_attempts` bound the rest
        return bool(self.per_repo or self.per_user) and trigger.command.kind in COUNTED_KINDS \
            and trigger.source != "event"


def repo_key(trigger: Trigger) -> str:
    """A sorted set of the run ids started in this repository, scored by when they were accepted."""
    return f"codexbot:rate:{trigger.forge}:repo:{trigger.repo.lower()}"


def user_key(trigger: Trigger) -> str:
    return f"codexbot:rate:{trigger.forge}:user:{trigger.author.lower()}"


def told_key(trigger: Trigger) -> str:
    """Set while the requester has been told about the limit; one comment per window, not one per attempt."""
    return f"codexbot:rate:{trigger.forge}:told:{trigger.author.lower()}"


def over_limit_message(conn: redis.Redis, trigger: Trigger, limits: RateLimits, command_word: str,
                       now: float | None = None) -> str:
    """One sentence: which limit was reached, and when the requester can ask again."""
    now = time.time() if now is None else now
    user_count, repo_count = (_count(conn, key, now, limits.window) for key in (user_key(trigger), repo_key(trigger)))
    if limits.per_user and user_count >= limits.per_user:
        key, what = user_key(trigger), f"you have started {limits.per_user} runs in the last hour, the most allowed per person"
    else:
        key, what = repo_key(trigger), f"{trigger.repo} has had {limits.per_repo} runs in the last hour, the most allowed per repository"
    minutes = max(1, round(_seconds_until_free(conn, key, now, limits.window) / 60))
    return (f"{what}, so this request was not run (nor will further ones be for now): "
            f"ask again with `{command_word}` in about {minutes} min.")


def _count(conn: redis.Redis, key: str, now: float, window: int) -> int:
    return conn.zcount(key, now - window, "+inf")


def _seconds_until_free(conn: redis.Redis, key: str, now: float, window: int) -> float:
    oldest = conn.zrangebyscore(key, now - window, "+inf", start=0, num=1, withscores=True)
    return oldest[0][1] + window - now if oldest else 0.0


def release_repo_slot(conn: redis.Redis, trigger: Trigger, run_id: str) -> None:
    """A request refused for lack of permission gives its slot back to the repository (it still counts against
    the requester), so people without access cannot use up a repository's hour."""
    conn.zrem(repo_key(trigger), run_id)
