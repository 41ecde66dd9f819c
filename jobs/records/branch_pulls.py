"""Which pull or merge request codexbot opened from which of its branches.

A GitLab branch pipeline (the default kind) names its branch and commit but no merge request, so the web
process finds the merge request to repair here, by the branch codexbot pushed. It is a pointer only: the
worker reads that merge request, its head and its pipelines through the API before doing anything.
"""

from __future__ import annotations

import redis

KEEP_SECONDS = 30 * 24 * 3600  # as long as a repair of a pull request codexbot opened is likely to be asked for


def _key(forge: str, repo: str, branch: str) -> str:
    return f"codexbot:branch-pull:{forge}:{repo.lower()}:{branch}"


def remember(conn: redis.Redis, forge: str, repo: str, branch: str, number: int) -> None:
    conn.set(_key(forge, repo, branch), number, ex=KEEP_SECONDS)


def recall(conn: redis.Redis, forge: str, repo: str, branch: str) -> int | None:
    raw = conn.get(_key(forge, repo, branch))
    return int(raw) if raw is not None and raw.isdigit() else None
