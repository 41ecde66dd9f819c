"""The values that cross from bot/ to jobs/: a parsed command, the trigger that carries it, the task."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass
from typing import Literal

_KEPT_CONTROLS = ("\n", "\t")


def strip_invisible(text: str) -> str:
    """Untrusted text (issues, comments, AGENTS.md) without what a reader cannot see: control characters but
    newline and tab, format characters (zero-width, bidi overrides, tags), private-use characters and lone
    surrogates (which no forge can store); then NFC, so one text has one spelling."""
    kept = "".join(ch for ch in text if ch in _KEPT_CONTROLS or unicodedata.category(ch) not in ("Cc", "Cf", "Co", "Cs"))
    return unicodedata.normalize("NFC", kept)


CommandKind = Literal["task", "help", "status", "cancel", "retry", "review", "fix-ci", "pick"]
COMMAND_KINDS: tuple[str, ...] = ("task", "help", "status", "cancel", "retry", "review", "fix-ci", "pick")


@dataclass(frozen=True)
class Command:
    """What a person asked for: a task text, one of the control words, a review (text: its focus) or a repair
    of a pull request's failing CI."""

    kind: CommandKind
    text: str = ""
    attempts: int = 1
    model: str | None = None
    fresh: bool = False  # `--fresh`: run setup even when a warm environment is kept
    models: tuple[str, ...] = ()  # `--models a,b`: one attempt per model, in this order (attempts = their number)
    notes: tuple[str, ...] = ()  # told to the user, the run still goes on
    errors: tuple[str, ...] = ()  # the reason a task became a help reply

    def __post_init__(self) -> None:
        if self.kind not in COMMAND_KINDS:
            raise ValueError(f"Command.kind must be one of {COMMAND_KINDS}, not {self.kind!r}")
        if not 1 <= self.attempts <= 5:
            raise ValueError(f"Command.attempts must be 1 to 5, not {self.attempts}")
        if self.models and len(self.models) != self.attempts:
            raise ValueError("Command.models must name one model per attempt")


@dataclass(frozen=True)
class Delegation:
    """A run sent from a terminal (`codexbot delegate`): where the user is, so the run starts exactly there."""

    base_sha: str  # the user's HEAD, which must be on the forge
    diff: str = ""  # the user's uncommitted changes (`git diff HEAD --binary` plus untracked files)
    token_id: str = ""  # the API token that asked, for listing and rate limits
    remote_url: str = ""  # what the user's checkout calls its remote, for the record only
    pull_request: bool = False  # also push a branch and open a pull request (`codexbot delegate --pr`)

    def __post_init__(self) -> None:
        if len(self.base_sha) != 40 or any(c not in "0123456789abcdef" for c in self.base_sha):
            raise ValueError(f"Delegation.base_sha must be a full 40-character commit id, not {self.base_sha!r}")


@dataclass(frozen=True)
class Trigger:
    """One forge event that asks the bot to do something, with who asked and where."""

    forge: Literal["github", "gitlab"]
    event: str
    source: Literal["comment", "label", "review", "api", "event"]  # event: a pull request opened, CI finished
    repo: str  # owner/name (GitLab: the project's path with namespace)
    repo_id: int
    number: int  # issue or pull/merge request number
    is_pull_request: bool
    title: str
    author: str  # the person who asked (commenter, or who added the label)
    installation_id: int | None
    command: Command
    comment_id: int | None = None
    url: str = ""
    review_id: int | None = None  # a submitted review whose line comments the run addresses
    review_comment_id: int | None = None  # one line comment with the command in it
    delegation: Delegation | None = None  # set for runs sent through the API (source "api"), which have no number

    def __post_init__(self) -> None:
        if "/" not in self.repo:
            raise ValueError(f"Trigger.repo must be owner/name, not {self.repo!r}")
        if (self.source == "api") != (self.delegation is not None):
            raise ValueError("Trigger.delegation must be given exactly when Trigger.source is 'api'")
        if self.number < (0 if self.delegation is not None else 1):
            raise ValueError(f"Trigger.number must be positive, not {self.number}")


@dataclass(frozen=True)
class Task:
    """A trigger accepted for a run: stored as JSON in Redis, the job carries only run_id."""

    run_id: str
    delivery_id: str
    received_at: float
    trigger: Trigger

    def to_json(self) -> str:
        """The same JSON as json.dumps(asdict(self)), built without asdict's deep copies: the webhook path
        stores one per task delivery."""
        trigger = dict(self.trigger.__dict__, command=dict(self.trigger.command.__dict__),
                       delegation=dict(self.trigger.delegation.__dict__) if self.trigger.delegation else None)
        data = {"run_id": self.run_id, "delivery_id": self.delivery_id, "received_at": self.received_at,
                "trigger": trigger}
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> "Task":
        data = json.loads(text)
        trig = dict(data["trigger"])
        cmd = dict(trig.pop("command"))
        cmd["notes"] = tuple(cmd.get("notes", ()))
        cmd["errors"] = tuple(cmd.get("errors", ()))
        cmd["models"] = tuple(cmd.get("models", ()))
        delegation = trig.pop("delegation", None)
        trigger = Trigger(command=Command(**cmd), delegation=Delegation(**delegation) if delegation else None, **trig)
        return cls(data["run_id"], data["delivery_id"], data["received_at"], trigger)


def derive_run_id(forge: str, delivery_id: str) -> str:
    """A run id fixed by the delivery, so a redelivered or retried webhook names the same run."""
    digest = hashlib.sha256(f"{forge}:{delivery_id}".encode()).hexdigest()
    return digest[:16]
