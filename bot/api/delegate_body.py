"""The body of POST /api/runs checked field by field: pure, so every bad request gets its own sentence."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_TASK = 20_000
FIELDS = {"task", "forge", "repository", "remote_url", "base_commit", "diff", "request_id", "model", "pull_request"}
_REPO = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+")
_SHA = re.compile(r"[0-9a-f]{40}")
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{8,100}")
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,99}")
_INVISIBLE = "\\u0000-\\u0008\\u000b-\\u001f\\u007f\\u200b-\\u200f\\u202a-\\u202e\\u2066-\\u2069"
_CONTROL = re.compile(f"[{_INVISIBLE}]")
TASK_PATTERN = f"[^\\s{_INVISIBLE}]"  # somewhere a character that is neither space nor invisible


class BodyError(ValueError):
    """The request body is wrong; the message names the field and what it should be."""


@dataclass(frozen=True)
class DelegateRequest:
    task: str
    forge: str
    repository: str
    base_commit: str
    request_id: str
    diff: str = ""
    remote_url: str = ""
    model: str | None = None
    pull_request: bool = False


def parse_delegate_body(body: object, max_diff_bytes: int) -> DelegateRequest:
    """A DelegateRequest, or BodyError with the first problem found."""
    if not isinstance(body, dict):
        raise BodyError("the body must be a JSON object with task, repository, base_commit and request_id")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise BodyError(f"unknown field {unknown[0]!r}; the fields are {', '.join(sorted(FIELDS))}")
    task = _string(body, "task", required=True)
    task = _CONTROL.sub("", task).strip()
    if not task or len(task) > MAX_TASK:
        raise BodyError(f"task must say what to do, in 1 to {MAX_TASK} characters")
    forge = _string(body, "forge") or "github"
    if forge not in ("github", "gitlab"):
        raise BodyError("forge must be 'github' or 'gitlab'")
    repository = _matching(body, "repository", _REPO, "owner/name (GitLab: group/project)")
    base = _matching(body, "base_commit", _SHA, "the full 40-character commit id in lower case")
    request_id = _matching(body, "request_id", _REQUEST_ID, "8 to 100 letters, digits, - or _")
    diff = _string(body, "diff")
    if max_diff_bytes and len(diff.encode("utf-8", "surrogatepass")) > max_diff_bytes:
        raise BodyError(f"diff is over the server's {max_diff_bytes} byte limit (CODEXBOT_MAX_DIFF_BYTES): "
                        "commit and push part of your work first")
    if diff and not diff.startswith("diff --git "):
        raise BodyError("diff must be the output of `git diff --binary` (starting with 'diff --git ')")
    remote = _string(body, "remote_url")
    if len(remote) > 2000 or re.search(r"[\x00-\x1f\x7f]", remote):
        raise BodyError("remote_url must be a URL of at most 2000 characters")
    model = _string(body, "model") or None
    if model is not None and not _MODEL.fullmatch(model):
        raise BodyError("model takes a name of letters, digits and . _ : / @ + - (at most 100)")
    pull_request = body.get("pull_request", False)
    if not isinstance(pull_request, bool):
        raise BodyError("pull_request must be true or false")
    return DelegateRequest(task, forge, repository, base, request_id, diff, remote, model, pull_request)


def _string(body: dict, name: str, required: bool = False) -> str:
    value = body.get(name)
    if value is None:
        if required:
            raise BodyError(f"{name} is missing")
        return ""
    if not isinstance(value, str):
        raise BodyError(f"{name} must be a string")
    return value


def _matching(body: dict, name: str, pattern: re.Pattern, shape: str) -> str:
    value = _string(body, name, required=True)
    if not pattern.fullmatch(value):
        raise BodyError(f"{name} must be {shape}")
    return value
